"""Seeded 128-d data shaped like dlib face encodings (runs and galleries), and chromium's
flags, for benchmarks and tests."""

from __future__ import annotations

import numpy as np

# Headless chromium as tests and benchmarks start it: off the network (on a closed machine it
# would otherwise retry Google's hosts at every start, slowly) and without a sandbox (root).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def face_like(
    n: int, seed: int = 0, noise_fraction: float = 0.05, mean_size: float = 20.0
) -> tuple[np.ndarray, np.ndarray]:
    """(encodings float32 (n, 128), identity labels (-1 = noise)).

    Identities are random centres ~1 apart (dlib's different-people distances are mostly
    0.7-1.1); faces scatter ~0.3 around their centre (same-person distances ~0.3-0.45); cluster
    sizes are skewed (Zipf-like), and a share of faces are lone noise points.
    """
    rng = np.random.default_rng(seed)
    n_noise = int(n * noise_fraction)
    n_faces = n - n_noise
    n_ids = max(1, int(n_faces / mean_size))
    weights = 1.0 / np.arange(1, n_ids + 1) ** 0.8
    sizes = rng.multinomial(n_faces - n_ids, weights / weights.sum()) + 1
    centres = rng.normal(size=(n_ids, 128)).astype(np.float32)
    centres *= 0.75 / np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(n_ids), sizes)
    x = centres[labels] + rng.normal(scale=0.3 / np.sqrt(2 * 128), size=(n_faces, 128)).astype(
        np.float32
    )
    noise = rng.normal(size=(n_noise, 128)).astype(np.float32)
    noise *= 0.75 / np.linalg.norm(noise, axis=1, keepdims=True)
    x = np.vstack([x, noise]).astype(np.float32)
    labels = np.concatenate([labels, np.full(n_noise, -1)])
    order = rng.permutation(n)
    return x[order], labels[order]


def gallery_like(n: int, seed: int = 0, per_person: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """(encodings float32 (n, 128), identity labels): a gallery of named people.

    Unlike face_like's isotropic blobs, faces vary along a decaying spectrum of directions, as
    learned embeddings do (variance of the i-th direction ~ 1/i), so the nearest face of a
    person is usually a clear one rather than a tie among hundreds at the same distance.
    People have a Poisson number of faces (mean per_person, at least one); different people
    sit ~0.9 apart and faces of one person ~0.35, as dlib's do.
    """
    rng = np.random.default_rng(seed)
    dim = 128
    n_ids = max(1, int(n / per_person))
    sizes = rng.poisson(per_person - 1, n_ids) + 1
    labels = np.repeat(np.arange(n_ids), sizes)
    labels = np.concatenate([labels, rng.integers(0, n_ids, max(0, n - len(labels)))])[:n]
    rotation = np.linalg.qr(rng.normal(size=(dim, dim)))[0].astype(np.float32)
    spectrum = 1.0 / np.sqrt(np.arange(1, dim + 1))
    spectrum = (spectrum / np.linalg.norm(spectrum)).astype(np.float32)

    def draw(count: int, spread: float) -> np.ndarray:
        z = rng.normal(size=(count, dim)).astype(np.float32) * spectrum
        return (z @ rotation) * np.float32(spread / np.sqrt(2))

    centres = draw(n_ids, 0.9)
    x = np.empty((n, dim), np.float32)
    for a in range(0, n, 1 << 18):  # in slices: the temporaries of 10M faces would not fit
        b = min(n, a + (1 << 18))
        x[a:b] = centres[labels[a:b]] + draw(b - a, 0.35)
    order = rng.permutation(n)
    return x[order], labels[order]
