"""Clusters for a run's faces: tracks, the person space (adapted or not), DBSCAN and the splits,
noise attached or reported; the glue between the records and cluster.py's array functions."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from . import adapt
from .cluster import cluster_faces, nearest_clusters
from .config import RunSettings
from .records import Face, person_space
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


def assign_clusters(
    faces: list[Face],
    settings: RunSettings,
    samples: Sequence[tuple] = (),
    tracks: np.ndarray | None = None,
) -> np.ndarray:
    """Cluster faces in place (sets Face.cluster, and Face.nearest for noise); return labels.

    With the `tracks` setting, faces are linked across samples of one shot: pass `samples`
    (see face_tracks), or `tracks` already computed from them. Clusters are formed in the
    settings' person space (encoder, adapted to the footage's tracks or not).
    """
    if not faces:
        return np.zeros(0, dtype=np.int64)
    c = settings.cluster
    enc = person_space(faces, settings.encode.encoder)
    frames = [(f.video, f.frame_index) for f in faces]
    if tracks is None and samples and (c.tracks or c.adapt != "none"):
        tracks = face_tracks(faces, samples)
    adaptation = None
    if c.adapt == "tracks" and tracks is not None:
        adaptation = adapt.fit(enc, tracks)
        if adaptation is None:
            log.warning("too few tracks to adapt the person space; clustering without it")
        else:
            enc = adaptation.apply(enc)
    c = c.in_space(settings.encode.encoder, adapted=adaptation is not None)
    labels = cluster_faces(
        enc,
        frames,
        c.radius,
        c.min_samples,
        c.split_same_frame,
        tracks if c.tracks else None,
        c.split_distance,
    )
    near_label, near_dist = nearest_clusters(enc, labels)
    noise = np.flatnonzero(labels < 0)
    if c.assign_noise:
        attach = near_dist <= c.noise_threshold
        labels[noise[attach]] = near_label[attach]
        noise, near_label, near_dist = noise[~attach], near_label[~attach], near_dist[~attach]
    for f, lab in zip(faces, labels):
        f.cluster, f.nearest = int(lab), None
    for i, lab, d in zip(noise, near_label, near_dist):
        if lab >= 0:
            faces[i].nearest = (int(lab), round(float(d), 4))
    return labels
