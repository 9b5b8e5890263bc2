"""The person space a run chooses from its own tracks and frames (calibrate.py)."""

from __future__ import annotations

import numpy as np
import pytest

from clusterpipe.cluster import calibrate
from clusterpipe.cluster.clusterer import cluster_vectors, person_space_of
from clusterpipe.config import ADAPTED_EPS, DLIB_EPS, ClusterSettings
from clusterpipe.store.records import Face

SHAPE = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], float)


def _footage(motion: float, seed: int = 0, gap: float = 0.4, people: int = 2):
    """Two look-alike people (raw distance `gap`), six tracks of four faces each; within a track
    a face varies along a few nuisance directions. Landmarks: the same face shape under a
    random affine map (a camera moving a still photo) plus `motion` of its own (real faces)."""
    rng = np.random.default_rng(seed)
    d = 128
    base = rng.normal(size=d)
    base *= 0.6 / np.linalg.norm(base)
    nuisance = np.linalg.qr(rng.normal(size=(d, 8)))[0]
    x, tracks, frames, marks, who = [], [], [], [], []
    for p in range(people):
        off = rng.normal(size=d)
        centre = base + gap / 2 * off / np.linalg.norm(off) * (1 if p % 2 else -1)
        for k in range(6):
            t = p * 6 + k
            shot = rng.normal(size=8) * 0.025
            for j in range(4):
                v = centre + nuisance @ (shot + rng.normal(size=8) * 0.05)
                x.append(v + rng.normal(size=d) * 0.03)
                tracks.append(t)
                frames.append(("v", t * 100 + j))
                who.append(p)
                a = np.eye(2) + rng.normal(size=(2, 2)) * 0.1
                m = SHAPE @ a.T + rng.normal(size=2) * 20
                marks.append((m + rng.normal(size=(5, 2)) * motion * 40).tolist())
    return np.array(x), np.array(tracks), frames, marks, np.array(who)


def _people(labels: np.ndarray, who: np.ndarray) -> tuple[int, bool]:
    """Number of clusters, and whether each holds one person only."""
    found = set(labels.tolist()) - {-1}
    return len(found), all(len(set(who[labels == c].tolist())) == 1 for c in found)


def test_calibrated_radius_separates_look_alikes_that_fixed_radii_do_not():
    x, tracks, frames, marks, who = _footage(motion=0.05)
    y, choice = calibrate.choose(x, tracks, frames, marks, "dlib", "auto", DLIB_EPS)
    assert choice.adapted and "change shape" in choice.reason

    def clusters(v, radius):
        c = ClusterSettings(eps=radius, split_distance=0)
        return _people(cluster_vectors(v, frames, tracks, c), who)

    assert clusters(x, DLIB_EPS) == (1, False)  # the raw space merges the two
    n, pure = clusters(y, ADAPTED_EPS)  # the adapted space at a fixed radius cuts them up
    assert pure and n > 2
    assert clusters(y, choice.radius) == (2, True)  # calibrated: each person whole, apart
    assert choice.radius > ADAPTED_EPS


def test_still_photo_tracks_decline_adaptation():
    x, tracks, frames, marks, who = _footage(motion=0.0)
    y, choice = calibrate.choose(x, tracks, frames, marks, "dlib", "auto", DLIB_EPS)
    assert not choice.adapted and "barely change shape" in choice.reason
    assert choice.radius == DLIB_EPS and y is x
    assert choice.evidence.shape_tracks == 12 and choice.evidence.shape_change < 0.005
    # --adapt tracks still forces it; --adapt none never adapts
    assert calibrate.choose(x, tracks, frames, marks, "dlib", "tracks", DLIB_EPS)[1].adapted
    assert not calibrate.choose(x, tracks, frames, marks, "dlib", "none", DLIB_EPS)[1].adapted


def test_too_few_tracks_keep_the_raw_space():
    x, tracks, frames, marks, who = _footage(motion=0.05)
    keep = tracks < 3  # 3 tracks of 4 faces: under the 20 faces adaptation needs
    _, choice = calibrate.choose(
        x[keep], tracks[keep], [f for f, k in zip(frames, keep) if k], marks, "dlib", "auto", 0.5
    )
    assert not choice.adapted and "too few" in choice.reason


def test_shape_residual_ignores_affine_maps_and_sees_motion():
    rng = np.random.default_rng(1)
    still = np.array([SHAPE @ (np.eye(2) + rng.normal(size=(2, 2)) * 0.2).T + 9 for _ in range(5)])
    assert calibrate.shape_residual(still).max() < 1e-9
    moving = still + rng.normal(size=still.shape) * 2
    assert calibrate.shape_residual(moving).min() > 0.005


def test_evidence_and_explicit_eps_through_person_space_of():
    x, tracks, frames, marks, who = _footage(motion=0.05)
    faces = [
        Face(f"v-{i}", "v", fr[1], float(i), (0, 0, 9, 9), v.tolist(), landmarks=m)
        for i, (v, fr, m) in enumerate(zip(x, frames, marks))
    ]
    space = person_space_of(faces, "dlib", ClusterSettings(), tracks)
    ev = space.choice.evidence
    assert space.choice.adapted and ev.tracks == 12 and ev.track_pairs == 12 * 6
    assert ev.frame_pairs == 0 and ev.frame_quantiles == ()
    assert space.settings.radius == space.choice.radius
    # split and noise distances scale with the calibrated radius, as with any default radius
    assert space.settings.split_distance == pytest.approx(0.575 * space.choice.radius / DLIB_EPS)
    fixed = person_space_of(faces, "dlib", ClusterSettings(eps=0.7), tracks)
    assert fixed.settings.radius == 0.7 and fixed.choice.rule == "--eps"
    assert fixed.choice.to_json()["evidence"]["tracks"] == 12


def test_same_frame_pairs_cap_the_radius():
    ev = calibrate.Evidence(10, 50, 40, (0.3, 0.45, 0.5), (0.5, 0.8, 1.2), 10, 0.03)
    radius, rule = calibrate.adapted_radius("dlib", ev)
    assert radius == pytest.approx(0.72) and "capped" in rule
    free = calibrate.Evidence(10, 50, 0, (0.3, 0.3, 0.4), (), 10, 0.03)
    assert calibrate.adapted_radius("dlib", free)[0] == pytest.approx(0.78)
