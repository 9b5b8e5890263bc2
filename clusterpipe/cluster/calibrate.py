"""The person space of one run, chosen and calibrated from the footage's own evidence.

Two kinds of evidence need no ground truth: faces linked into one track are one person, and two
faces of one frame are two people. From them, per run:
- whether to adapt the space (adapt.py): only where the tracks carry real variation. A face in
  real video changes shape within its track (it talks, turns, frowns), which still photos moved
  by a virtual camera cannot do: after the best affine map between two samples' five landmarks,
  what remains is the face's own motion. Footage without it (still photos, a static head) keeps
  the raw space, which already works there;
- the radius of an adapted space. Adaptation whitens by within-track scatter, so an adapted
  space has no fixed scale: the same radius cuts people into pieces on expressive footage and
  merges them on still footage. The radius is a fixed multiple of how far apart one person's
  faces already are within a track (their 90th percentile), never above the distance at which
  two people of one frame start to meet. Raw spaces keep their documented radius (dlib's
  metric was trained to an absolute threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from . import adapt
from .dbscan import positions

# Tracks of at least SHAPE_MIN_FACES faces with landmarks, at least SHAPE_MIN_TRACKS of them,
# before the footage's motion is judged; fewer cannot show it.
SHAPE_MIN_FACES = 3
SHAPE_MIN_TRACKS = 8
# Adapt when a quarter of the tracks or more change shape by at least this much (RMS landmark
# residual after an affine fit, in inter-ocular distances; per track, its median face).
# Measured, 75th percentile of tracks: dev (still photos) 0.009, dev_hard (still photos, blurred,
# squeezed, small) 0.014, real talking heads 0.015 (GRID) to 0.024 (with an expressive
# speaker), a real TV clip 0.05 (docs/benchmarks.md).
SHAPE_CHANGE = 0.02
SHAPE_QUANTILE = 75
# Adapted radius = RADIUS_SCALE[space] x the 90th percentile of within-track distances, within
# RADIUS_BOUNDS, and at most NEGATIVE_CAP x the 10th percentile of same-frame distances. The
# scale differs by space because whitening 512 dimensions from a few tracks leaves a larger
# share of each vector unexplained than 128 (docs/benchmarks.md has the sweeps).
RADIUS_SCALE = {"dlib": 2.6, "facenet": 3.9}
RADIUS_BOUNDS = (0.6, 1.3)
NEGATIVE_CAP = 0.9
# Same-frame pairs closer than this fraction of the radius are left out of the evidence: a
# mirror, a screen or a duplicate detection, not two people.
DUPLICATE = 0.5


@dataclass(frozen=True)
class Evidence:
    """What the footage says about a space: distances of one person (within a track) and of two
    people (faces of one frame), and how much the tracks change shape."""

    tracks: int  # tracks of >= 2 faces
    track_pairs: int
    frame_pairs: int
    track_quantiles: tuple[float, ...]  # within-track distances at 50, 90, 99 %
    frame_quantiles: tuple[float, ...]  # same-frame distances at 1, 10, 50 % (empty: none)
    shape_tracks: int  # tracks long enough to show motion
    shape_change: float | None  # SHAPE_QUANTILE of their per-track landmark residual


@dataclass(frozen=True)
class SpaceChoice:
    """The space a run clusters in: adapted or not and why, its radius and how it was set."""

    encoder: str
    adapted: bool
    reason: str
    radius: float
    rule: str
    evidence: Evidence

    def to_json(self) -> dict:
        """For run.json and the report."""
        return asdict(self)

    def summary(self) -> str:
        """One line for the log: the space, its radius and why."""
        space = f"{self.encoder}{' adapted' if self.adapted else ', raw'}"
        return f"person space: {space}, radius {self.radius:.3f} ({self.rule}); {self.reason}"


def _quantiles(d: np.ndarray, qs: Sequence[float]) -> tuple[float, ...]:
    return tuple(round(float(v), 4) for v in np.percentile(d, qs)) if len(d) else ()


def pair_distances(
    x: np.ndarray, tracks: np.ndarray, frames: Sequence[object]
) -> tuple[np.ndarray, np.ndarray]:
    """Distances of face pairs within a track, and of face pairs within a frame."""
    from scipy.spatial.distance import pdist

    def within(groups: dict) -> np.ndarray:
        parts = [pdist(x[idx]) for idx in groups.values() if len(idx) >= 2]
        return np.concatenate(parts) if parts else np.zeros(0)

    return within(positions(np.asarray(tracks).tolist())), within(positions(frames))


def shape_residual(points: np.ndarray) -> np.ndarray:
    """Per face of one track (m, 5, 2): RMS distance of its landmarks from the track's mean shape
    after the best affine map onto it, in inter-ocular distances."""
    pts = np.asarray(points, np.float64)
    ref = pts.mean(axis=0)
    ones = np.ones((pts.shape[1], 1))
    for _ in range(2):  # align to the mean, then to the mean of the aligned shapes
        aligned = []
        for p in pts:
            a = np.hstack([p, ones])
            m, *_ = np.linalg.lstsq(a, ref, rcond=None)
            aligned.append(a @ m)
        fitted = np.array(aligned)
        ref = fitted.mean(axis=0)
    eyes = max(float(np.linalg.norm(ref[0] - ref[1])), 1e-6)
    return np.sqrt(((fitted - ref) ** 2).sum(-1).mean(-1)) / eyes


def shape_change(
    landmarks: Sequence[Sequence | None], tracks: np.ndarray
) -> tuple[int, float | None]:
    """How many tracks can show motion, and SHAPE_QUANTILE of their median shape residual."""
    per_track = [
        float(np.median(shape_residual(np.array([landmarks[i] for i in idx]))))
        for idx in positions(np.asarray(tracks).tolist()).values()
        if len(idx) >= SHAPE_MIN_FACES and all(landmarks[i] is not None for i in idx)
    ]
    if not per_track:
        return 0, None
    return len(per_track), round(float(np.percentile(per_track, SHAPE_QUANTILE)), 4)


def evidence(
    pairs: tuple[np.ndarray, np.ndarray],
    tracks: np.ndarray,
    motion: tuple[int, float | None],
    duplicate: float = 0.0,
) -> Evidence:
    """The evidence of one space from its pair distances (pair_distances: within tracks, within
    frames); same-frame pairs closer than `duplicate` are left out."""
    pos, neg = pairs
    neg = neg[neg > duplicate]
    _, counts = np.unique(np.asarray(tracks), return_counts=True)
    return Evidence(
        int((counts >= 2).sum()),
        len(pos),
        len(neg),
        _quantiles(pos, (50, 90, 99)),
        _quantiles(neg, (1, 10, 50)),
        motion[0],
        motion[1],
    )


def adapted_radius(encoder: str, ev: Evidence) -> tuple[float, str]:
    """The radius of an adapted space from its evidence, and the rule as a sentence."""
    scale = RADIUS_SCALE.get(encoder, RADIUS_SCALE["dlib"])
    lo, hi = RADIUS_BOUNDS
    q90 = ev.track_quantiles[1]
    radius = min(hi, max(lo, scale * q90))
    rule = f"{scale} x within-track distance q90 {q90:.3f}"
    if ev.frame_quantiles and radius > NEGATIVE_CAP * ev.frame_quantiles[1]:
        radius = max(lo, NEGATIVE_CAP * ev.frame_quantiles[1])
        rule += f", capped at {NEGATIVE_CAP} x same-frame distance q10"
    return round(radius, 4), rule


def choose(
    x: np.ndarray,
    tracks: np.ndarray | None,
    frames: Sequence[object],
    landmarks: Sequence[Sequence | None],
    encoder: str,
    mode: str,
    raw_radius: float,
) -> tuple[np.ndarray, SpaceChoice]:
    """The vectors to cluster and the choice behind them. `mode`: auto (adapt where the
    footage supports it), tracks (adapt whenever the tracks suffice) or none."""
    if tracks is None:
        tracks = np.arange(len(x))
    motion = shape_change(landmarks, tracks) if mode == "auto" else (0, None)
    fitted = adapt.fit(x, tracks) if mode != "none" and len(x) else None
    if mode == "none":
        reason = "adaptation off (--adapt none)"
    elif fitted is None:
        reason = f"too few tracked faces to learn from (under {adapt.MIN_SCATTER_FACES})"
    elif mode == "tracks":
        reason = "adapted to the tracks (--adapt tracks)"
    elif motion[0] < SHAPE_MIN_TRACKS or motion[1] is None:
        reason = f"{motion[0]} tracks of {SHAPE_MIN_FACES}+ faces with landmarks, under "
        reason += f"{SHAPE_MIN_TRACKS}: too few to show real motion"
        fitted = None
    elif motion[1] < SHAPE_CHANGE:
        reason = f"the tracks barely change shape ({motion[1]:.3f} < {SHAPE_CHANGE}): still "
        reason += "photos or static heads, where the raw space is the better one"
        fitted = None
    else:
        reason = f"the tracks change shape as real faces do ({motion[1]:.3f} >= {SHAPE_CHANGE})"
    if fitted is None:
        ev = evidence(pair_distances(x, tracks, frames), tracks, motion, DUPLICATE * raw_radius)
        return x, SpaceChoice(encoder, False, reason, raw_radius, "the space's own", ev)
    y = fitted.apply(x)
    pairs = pair_distances(y, tracks, frames)
    # The radius decides which same-frame pairs are duplicates, which can move the cap: a
    # first radius from every pair, then the radius from the pairs that are two people.
    radius, _ = adapted_radius(encoder, evidence(pairs, tracks, motion))
    ev = evidence(pairs, tracks, motion, DUPLICATE * radius)
    radius, rule = adapted_radius(encoder, ev)
    return y, SpaceChoice(encoder, True, reason, radius, rule, ev)
