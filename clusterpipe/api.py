"""The plain Python API behind every CLI command, usable from a notebook."""

from __future__ import annotations

import contextlib
import importlib
import logging
import platform
import shutil
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, adapt
from .cluster import CLUSTER_MODULES, cluster_faces, nearest_clusters
from .config import RunSettings
from .engines import Engine, Job
from .errors import ClusterpipeError, InputError, StoreError
from .evaluate import MATCH_IOU, evaluate, load_ground_truth
from .faces import check_models
from .gallery import Gallery
from .generate import generate, named_folders
from .generate.report import write_report
from .layout import CLUSTERS_DIR, MONTAGES_DIR, NOISE_DIR
from .people import name_clusters
from .records import Face, VideoInfo, person_space
from .store import (
    FACES_FILE,
    RUN_FILE,
    VECTORS_FILE,
    Lock,
    ShardStore,
    attach_vectors,
    read_faces,
    read_json,
    write_faces,
    write_json,
    write_vectors,
)
from .tracks import build_tracks
from .video import probe

log = logging.getLogger("clusterpipe")


@dataclass
class RunResult:
    """What `run` produced, for the summary line and for callers."""

    out: Path
    faces: int
    clusters: int
    noise: int
    wall_s: float
    videos: list[VideoInfo]
    failed: dict[str, str] = field(default_factory=dict)
    stage_s: dict[str, float] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    damaged: dict[str, str] = field(default_factory=dict)


def _probe_all(paths: Sequence[str]) -> tuple[list[VideoInfo], dict[str, str]]:
    videos, failed, keys = [], {}, set()
    for p in paths:
        try:
            info = probe(p)
        except InputError as e:
            failed[str(p)] = str(e)
            continue
        if info.key in keys:
            log.warning("%s: same video given twice, using it once", p)
            continue
        keys.add(info.key)
        videos.append(info)
    if not videos:
        if len(failed) == 1:
            raise InputError(next(iter(failed.values())))
        raise InputError(
            f"none of the {len(failed)} inputs is a readable video: " + "; ".join(failed.values())
        )
    for why in failed.values():
        log.debug("skipping: %s", why)
    return videos, failed


def _versions() -> dict[str, str]:
    import cv2
    import dlib
    import sklearn

    return {
        "clusterpipe": __version__,
        "python": platform.python_version(),
        "dlib": dlib.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


def _import_all(modules: Sequence[str]) -> None:
    for name in modules:
        with contextlib.suppress(ImportError):  # reported where the module is used
            importlib.import_module(name)


def _previous_run(out: Path) -> dict:
    path = out / RUN_FILE
    if not path.exists():
        return {}
    try:
        return read_json(path, "run.json")
    except StoreError:
        return {}


def run(
    videos: Sequence[str],
    out: str | Path,
    settings: RunSettings | None = None,
    gallery: str | Path | None = None,
    threshold: float | None = None,
) -> RunResult:
    """Sample, detect, encode, cluster and generate per-person folders for `videos` into `out`.

    With `gallery`, clusters whose faces match a known person are named after them.
    """
    settings = settings or RunSettings()
    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out}: exists and is not a folder; choose another --out")
    if gallery:  # a missing, damaged or other-space gallery fails before any work
        Gallery.open(gallery).require(settings.encode.encoder, "this run")
    check_models(settings.encode)
    infos, failed = _probe_all(videos)
    previous = _previous_run(out)
    auto_named = set(previous.get("gallery_names", {}).values())
    named = [n for n in named_folders(out) if n not in auto_named]
    if named and not settings.fresh:
        raise StoreError(
            f"{out / CLUSTERS_DIR} has folders you named ({', '.join(named[:5])}); running again "
            "would replace them: promote them first, or use another --out (--fresh discards them)"
        )
    stage_s: dict[str, float] = {}
    damaged: dict[str, str] = {}
    with Lock(out):
        enc = settings.encode
        store = ShardStore(out, enc.fingerprint())
        store.prepare(settings.fresh, asdict(enc))
        if settings.fresh:
            for d in (CLUSTERS_DIR, NOISE_DIR, MONTAGES_DIR):
                shutil.rmtree(out / d, ignore_errors=True)
        jobs = [Job(v, frozenset(store.done_segments(v.key))) for v in infos]
        reused = sum(len(j.done) for j in jobs)
        if reused:
            log.info("resuming: %d finished shards reused", reused)
        t = time.perf_counter()
        # The parent mostly waits while the encoders run: import clustering meanwhile rather
        # than before they start or after they finish, when a core would stand idle.
        threading.Thread(target=_import_all, args=(CLUSTER_MODULES,), daemon=True).start()
        engine = Engine.get(settings.engine)(
            workers=settings.workers,
            segment_seconds=settings.segment_seconds,
            progress=settings.progress,
            address=settings.address,
        )
        stats = engine.encode(jobs, enc, store)
        stage_s["detect_encode"] = time.perf_counter() - t
        for key, info in stats.videos.items():
            path = next(v.path for v in infos if v.key == key)
            if "error" in info:
                failed[path] = info["error"]
            elif info.get("ended_early"):
                damaged[path] = (
                    f"damaged or truncated: read up to {info['last_time_s']:.1f} s, "
                    f"skipped {info.get('skipped_s', 0):.1f} s (see run.json)"
                )

        t = time.perf_counter()
        faces, crops, samples = [], {}, []
        for v in infos:
            for shard in store.iter_shards(v.key):
                faces += shard["faces"]
                samples += [(v.path, fr["frame_index"], fr.get("sig")) for fr in shard["frames"]]
                for fid, c in shard["crops"].items():
                    crops[fid] = (shard["pack"], c["offset"], c["length"], c["labels"])
        stage_s["merge"] = time.perf_counter() - t

        t = time.perf_counter()
        labels = assign_clusters(faces, settings, samples)
        stage_s["cluster"] = time.perf_counter() - t
        write_faces(out / FACES_FILE, faces)
        vectors = None
        if enc.encoder != "dlib":
            space = person_space(faces, enc.encoder)
            write_vectors(out / VECTORS_FILE, space)
            vectors = {"encoder": enc.encoder, "dim": int(space.shape[1]), "file": VECTORS_FILE}
        else:
            with contextlib.suppress(FileNotFoundError):
                (out / VECTORS_FILE).unlink()  # ours, from an earlier run with another encoder
        names = name_clusters(faces, gallery, threshold, enc.encoder) if gallery else {}

        t = time.perf_counter()
        gen = generate(out, faces, crops, settings.progress, names)
        stage_s["generate"] = time.perf_counter() - t

        n_clusters = int(labels.max() + 1) if len(labels) else 0
        n_noise = int((labels < 0).sum())
        wall = time.perf_counter() - t0
        run_info = {
            "run_id": previous.get("run_id") or uuid.uuid4().hex[:12],
            "gallery": str(Path(gallery).resolve()) if gallery else None,
            "gallery_names": {str(k): v for k, v in sorted(names.items())},
            "settings": {**asdict(settings), "encode_fingerprint": enc.fingerprint()},
            "vectors": vectors,
            "versions": _versions(),
            "inputs": [{**asdict(v), **stats.videos.get(v.key, {})} for v in infos],
            "failed_inputs": failed,
            "counts": {
                "faces": len(faces),
                "clusters": n_clusters,
                "noise": n_noise,
                "frames_encoded_now": stats.frames,
                "shards_reused": reused,
                "shards_written": stats.shards_written,
                **gen,
            },
            "times_s": {
                **{k: round(v, 3) for k, v in stage_s.items()},
                "detect_encode_cpu": round(stats.cpu_s, 3),
                "detect_cpu": round(stats.detect_cpu_s, 3),
                **{
                    key: round(value, 3)
                    for key, value in (
                        ("reader_cpu", stats.reader_cpu_s),
                        ("encoder_process_cpu", stats.encoder_process_cpu_s),
                    )
                    if value is not None
                },
                "total": round(wall, 3),
            },
        }
        t = time.perf_counter()
        write_report(out, faces, run_info, names)
        run_info["times_s"]["report"] = round(time.perf_counter() - t, 3)
        write_json(out / RUN_FILE, run_info)
    return RunResult(
        out, len(faces), n_clusters, n_noise, wall, infos, failed, stage_s, names, damaged
    )


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
        c.eps,
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


def evaluate_run(out: str | Path, ground_truth: str | Path, iou: float = MATCH_IOU) -> dict:
    """Score OUT/faces.jsonl against a ground-truth file."""
    faces = read_faces(Path(out) / FACES_FILE)
    gt = load_ground_truth(ground_truth)
    if not faces:
        raise ClusterpipeError(f"{out}: the run found no faces; nothing to evaluate")
    return evaluate(
        [{"time_s": f.time_s, "box": f.box, "cluster": f.cluster} for f in faces], gt, iou
    )


def load_samples(out: Path) -> list[tuple]:
    """(video path, frame_index, signature) of every sampled frame of a run, in time order."""
    info = read_json(Path(out) / RUN_FILE, "run.json")
    fingerprint = info.get("settings", {}).get("encode_fingerprint", "")
    store = ShardStore(Path(out), fingerprint)
    samples = []
    for v in info.get("inputs", []):
        if "key" not in v:
            continue
        for shard in store.iter_shards(v["key"]):
            samples += [(v["path"], fr["frame_index"], fr.get("sig")) for fr in shard["frames"]]
    return samples


def tune(
    out: str | Path,
    ground_truth: str | Path,
    eps_values: Sequence[float],
    min_samples_values: Sequence[int],
) -> list[dict]:
    """BCubed F1 of every clustering setting in the grid, best first.

    Every person space the run holds is tried (dlib, and its --encoder if another), as encoded
    and adapted to its tracks; eps values are dlib's, scaled for other spaces by their default
    radius."""
    from .config import DLIB_EPS, ClusterSettings, EncodeSettings, space_eps

    out = Path(out)
    faces = read_faces(out / FACES_FILE)
    if not faces:
        raise ClusterpipeError(f"{out}: the run found no faces; nothing to tune")
    encoder = attach_vectors(out, faces)
    gt = load_ground_truth(ground_truth)
    track_ids = face_tracks(faces, load_samples(out))  # the same for every setting tried
    rows = []
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
                            score = evaluate(
                                [
                                    {"time_s": f.time_s, "box": f.box, "cluster": f.cluster}
                                    for f in faces
                                ],
                                gt,
                            )
                            rows.append(
                                {
                                    "space": space,
                                    "adapt": adapt_mode,
                                    "eps": c.eps,
                                    "min_samples": ms,
                                    "tracks": tracks,
                                    "split_same_frame": split,
                                    "split_distance": split_distance,
                                    **score,
                                }
                            )
    rows.sort(key=lambda r: (-r["bcubed_f1"], -r["pairwise_f1"]))
    return rows
