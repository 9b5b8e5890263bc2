"""Clusters for a run's faces: tracks, the person space (adapted or not), DBSCAN and the splits,
noise attached or reported; the glue between the records and cluster.py's array functions."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..config import ClusterSettings, RunSettings
from ..store.records import Face, person_space
from . import calibrate
from .calibrate import SpaceChoice
from .dbscan import cluster_faces, nearest_clusters
from .tracks import build_tracks

log = logging.getLogger("clusterpipe")


def face_tracks(faces: list[Face], samples: Sequence[tuple]) -> np.ndarray:
    """Track id per face; `samples` are (video, frame_index, signature) of every sampled frame
    in time order per video."""
    faces_of: dict[tuple, list[int]] = defaultdict(list)
    for i, f in enumerate(faces):
        faces_of[(f.video, f.frame_index)].append(i)
    boxes = np.array([f.box for f in faces], dtype=np.int64).reshape(-1, 4)
    enc = np.array([f.encoding for f in faces], dtype=np.float64)
    return build_tracks(list(samples), boxes, enc, faces_of)


@dataclass(frozen=True)
class PersonSpace:
    """A run's faces in the space they are clustered in, with the settings resolved for it."""

    vectors: np.ndarray  # row i = faces[i]
    settings: ClusterSettings  # eps resolved: explicit, the space's own, or calibrated
    choice: SpaceChoice


def person_space_of(
    faces: Sequence[Face],
    encoder: str,
    settings: ClusterSettings,
    tracks: np.ndarray | None,
) -> PersonSpace:
    """The space to cluster a run's faces in: its encoder's vectors, adapted to the footage's
    tracks where it supports that, with the radius calibrated on its tracks and frames. Every
    path that clusters a run's faces (run, recluster, split, the review page) starts here."""
    x = person_space(faces, encoder)
    frames = [(f.video, f.frame_index) for f in faces]
    landmarks = [f.landmarks for f in faces]
    raw = settings.in_space(encoder).radius
    y, choice = calibrate.choose(x, tracks, frames, landmarks, encoder, settings.adapt, raw)
    resolved = settings.in_space(encoder, choice.adapted, choice.radius)
    if settings.eps is not None:  # an explicit --eps wins over the calibration
        choice = replace(choice, radius=resolved.radius, rule="--eps")
    return PersonSpace(y, resolved, choice)


def cluster_vectors(
    x: np.ndarray,
    frames: Sequence[object],
    tracks: np.ndarray | None,
    settings: ClusterSettings,
) -> np.ndarray:
    """Cluster labels of vectors in a resolved space, with every cluster setting applied (the
    one clusterer that run, recluster and the review page call)."""
    labels = cluster_faces(
        x,
        frames,
        settings.radius,
        settings.min_samples,
        settings.split_same_frame,
        tracks if settings.tracks else None,
        settings.split_distance,
    )
    if settings.assign_noise:
        noise = np.flatnonzero(labels < 0)
        near_label, near_dist = nearest_clusters(x, labels)
        attach = near_dist <= settings.noise_threshold
        labels[noise[attach]] = near_label[attach]
    return labels


@dataclass(frozen=True)
class Clustering:
    """Labels of a run's faces, the space they were clustered in and the settings resolved
    for it (None where there was no face)."""

    labels: np.ndarray
    choice: SpaceChoice | None
    settings: ClusterSettings | None = None


def cluster_run(
    faces: list[Face],
    settings: RunSettings,
    samples: Sequence[tuple] = (),
    tracks: np.ndarray | None = None,
) -> Clustering:
    """Cluster faces in place (sets Face.cluster, and Face.nearest for noise).

    With the `tracks` setting, faces are linked across samples of one shot: pass `samples`
    (see face_tracks), or `tracks` already computed from them. Clusters are formed in the
    settings' person space (person_space_of).
    """
    if not faces:
        return Clustering(np.zeros(0, dtype=np.int64), None)
    if tracks is None and samples:
        tracks = face_tracks(faces, samples)
    space = person_space_of(faces, settings.encode.encoder, settings.cluster, tracks)
    c, enc = space.settings, space.vectors
    log.debug(space.choice.summary())
    frames = [(f.video, f.frame_index) for f in faces]
    labels = cluster_vectors(enc, frames, tracks, c)
    near_label, near_dist = nearest_clusters(enc, labels)
    noise = np.flatnonzero(labels < 0)
    for f, lab in zip(faces, labels):
        f.cluster, f.nearest = int(lab), None
    for i, lab, d in zip(noise, near_label, near_dist):
        if lab >= 0:
            faces[i].nearest = (int(lab), round(float(d), 4))
    return Clustering(labels, space.choice, c)


def assign_clusters(
    faces: list[Face],
    settings: RunSettings,
    samples: Sequence[tuple] = (),
    tracks: np.ndarray | None = None,
) -> np.ndarray:
    """cluster_run's labels."""
    return cluster_run(faces, settings, samples, tracks).labels
