"""A person space adapted to the footage itself, unsupervised, per run.

Faces linked into one track (consecutive samples of one shot, overlapping boxes) are one
person, so the scatter of faces around their track's mean is how one person varies in this
footage (pose, light, blur). Whitening by that scatter shrinks those directions and stretches the
ones a person keeps, where people differ; keeping the leading directions of what remains drops
the ones that only carry noise. A few lines of linear algebra, fitted on the run's own faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Tracks of at least this many faces, in all at least this many faces, before the scatter is
# trusted; below that the space is left as it is.
MIN_TRACK_FACES = 2
MIN_SCATTER_FACES = 20
# Shrinkage of the within-track scatter towards its mean eigenvalue: it keeps directions that
# happen not to vary inside the few tracks of a short clip from being stretched without bound.
SHRINK = 0.5


@dataclass(frozen=True)
class Adaptation:
    """x -> normalise((x - mean) @ projection): the adapted space, rows L2-normalised."""

    mean: np.ndarray
    projection: np.ndarray  # (d, k)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Vectors (n, d) in the adapted space (n, k), unit length."""
        y = (np.asarray(x, np.float64) - self.mean) @ self.projection
        norms = np.linalg.norm(y, axis=1, keepdims=True)
        return y / np.maximum(norms, 1e-12)


def within_track_scatter(x: np.ndarray, tracks: np.ndarray) -> tuple[np.ndarray, int]:
    """Scatter (d, d) of faces around their track's mean, over tracks of >= 2 faces, and the
    number of faces it was taken over."""
    x = np.asarray(x, np.float64)
    _, unit = np.unique(np.asarray(tracks), return_inverse=True)
    counts = np.bincount(unit)
    means = np.zeros((len(counts), x.shape[1]))
    np.add.at(means, unit, x)
    means /= counts[:, None]
    keep = counts[unit] >= MIN_TRACK_FACES
    r = x[keep] - means[unit[keep]]
    return r.T @ r / max(1, len(r)), int(keep.sum())


def fit(x: np.ndarray, tracks: np.ndarray, keep: int | None = None) -> Adaptation | None:
    """The adaptation learnt from tracks, or None when the tracks are too few to learn from.

    `keep`: the number of leading directions (of the whitened faces' variance) kept; all when
    None."""
    x = np.asarray(x, np.float64)
    d = x.shape[1]
    scatter, n = within_track_scatter(x, tracks)
    if n < MIN_SCATTER_FACES:
        return None
    scatter = (1 - SHRINK) * scatter + SHRINK * np.trace(scatter) / d * np.eye(d)
    values, vectors = np.linalg.eigh(scatter)
    whiten = vectors / np.sqrt(np.maximum(values, 1e-12))
    mean = x.mean(axis=0)
    projection = whiten
    if keep and keep < d:
        w = (x - mean) @ whiten
        _, _, vt = np.linalg.svd(w, full_matrices=False)
        projection = whiten @ vt[:keep].T
    return Adaptation(mean, projection)
