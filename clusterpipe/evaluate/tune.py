"""Scoring a finished run against ground truth, and sweeping its clustering settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .._moved import DictAccess
from ..cluster import adapt
from ..cluster.clusterer import assign_clusters, cluster_run, face_tracks
from ..config import RunSettings
from ..errors import ClusterpipeError
from ..store.files import read_faces
from ..store.folders import bad_folder_error, scan
from ..store.layout import CLUSTERS_DIR, FACES_FILE
from ..store.outdir import NOISE, REJECTED, OutDir
from ..store.records import Face, person_space
from ..store.runinfo import attach_vectors
from ..store.shards import load_samples
from .metrics import MATCH_IOU, Scores, evaluate, load_ground_truth


@dataclass(frozen=True)
class TuneRow(DictAccess):
    """One clustering setting tried by tune, and its scores."""

    space: str
    adapt: str
    eps: float
    min_samples: int
    tracks: bool
    split_same_frame: bool
    split_distance: float
    calibrated: bool  # what a run chooses with no ground truth (calibrate.py)
    scores: Scores


def evaluate_run(out: str | Path, ground_truth: str | Path, iou: float = MATCH_IOU) -> Scores:
    """Score a run's folders as they are now against a ground-truth file: the user's moves and
    merges count, a face whose crop was deleted (or rejected) is no longer predicted."""
    faces = read_faces(Path(out) / FACES_FILE)
    gt = load_ground_truth(ground_truth)
    if not faces:
        raise ClusterpipeError(f"{out}: the run found no faces; nothing to evaluate")
    labels = _labels_on_disk(Path(out), faces)
    return evaluate(
        [
            {"time_s": f.time_s, "box": f.box, "cluster": lab}
            for f, lab in zip(faces, labels)
            if lab is not None
        ],
        gt,
        iou,
    )


def _labels_on_disk(out: Path, faces: Sequence[Face]) -> list[int | None]:
    """Each face's cluster as the folders say (one label per folder, -1 for noise, None for a
    crop deleted or rejected); faces.jsonl's where the run has no folders."""
    if not (out / CLUSTERS_DIR).is_dir():
        return [f.cluster for f in faces]
    ids = {f.id for f in faces}
    tree = scan(out, ids)
    if tree.bad_names:  # its faces would be scored as deleted
        raise bad_folder_error(out, tree.bad_names)
    where = OutDir(out).locate(ids, tree)
    folders = sorted({w for w in where.values() if w not in (NOISE, REJECTED)})
    label: dict[str | None, int | None] = {w: k for k, w in enumerate(folders)}
    label.update({NOISE: -1, REJECTED: None, None: None})
    return [label[where.get(f.id)] for f in faces]


def tune(
    out: str | Path,
    ground_truth: str | Path,
    eps_values: Sequence[float],
    min_samples_values: Sequence[int],
) -> list[TuneRow]:
    """BCubed F1 of every clustering setting in the grid, best first, and of the settings a run
    calibrates with no ground truth (rows with `calibrated`, one per space).

    Every person space the run holds is tried (dlib, and its --encoder if another), as encoded
    and adapted to its tracks; eps values are dlib's, scaled for other spaces by their default
    radius."""
    from ..config import DLIB_EPS, ClusterSettings, EncodeSettings, space_eps

    out = Path(out)
    faces = read_faces(out / FACES_FILE)
    if not faces:
        raise ClusterpipeError(f"{out}: the run found no faces; nothing to tune")
    encoder = attach_vectors(out, faces)
    gt = load_ground_truth(ground_truth)
    track_ids = face_tracks(faces, load_samples(out))  # the same for every setting tried
    rows = []
    score_of = lambda: evaluate(  # noqa: E731
        [{"time_s": f.time_s, "box": f.box, "cluster": f.cluster} for f in faces], gt
    )
    for space in dict.fromkeys(("dlib", encoder)):
        # What a run decides with no ground truth (calibrate.py), to set beside the best.
        settings = RunSettings(encode=EncodeSettings(encoder=space), workers=1)
        done = cluster_run(faces, settings, tracks=track_ids)
        assert done.choice is not None and done.settings is not None
        rows.append(
            TuneRow(
                space,
                "tracks" if done.choice.adapted else "none",
                done.settings.radius,
                done.settings.min_samples,
                done.settings.tracks,
                done.settings.split_same_frame,
                done.settings.split_distance,
                True,
                score_of(),
            )
        )
    for space in dict.fromkeys(("dlib", encoder)):
        adaptable = adapt.fit(person_space(faces, space), track_ids) is not None
        for adapt_mode in ("none", "tracks") if adaptable else ("none",):
            scale = space_eps(space, adapt_mode) / DLIB_EPS
            for eps in eps_values:
                for ms in min_samples_values:
                    for tracks, split_distance in (
                        (True, ClusterSettings.split_distance * scale),
                        (True, 0.0),
                        (False, 0.0),
                    ):
                        for split in (True, False):
                            c = ClusterSettings(
                                eps=min(1.999, eps * scale),
                                min_samples=ms,
                                tracks=tracks,
                                split_same_frame=split,
                                split_distance=split_distance,
                                adapt=adapt_mode,
                            )
                            settings = RunSettings(
                                encode=EncodeSettings(encoder=space), cluster=c, workers=1
                            )
                            assign_clusters(faces, settings, tracks=track_ids)
                            rows.append(
                                TuneRow(
                                    space,
                                    adapt_mode,
                                    min(1.999, eps * scale),
                                    ms,
                                    tracks,
                                    split,
                                    split_distance,
                                    False,
                                    score_of(),
                                )
                            )
    rows.sort(key=lambda r: (-r.scores.bcubed_f1, -r.scores.pairwise_f1))
    return rows
