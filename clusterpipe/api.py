"""The plain Python API behind every CLI command, usable from a notebook."""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import platform
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .cluster.clusterer import assign_clusters, cluster_run, face_tracks
from .cluster.dbscan import CLUSTER_MODULES
from .config import RunSettings, default_workers
from .encode.dlib import check_models
from .engines import EncodeStats, Engine, Job
from .errors import InputError, StoreError
from .evaluate.tune import evaluate_run, tune
from .gallery.identify import name_clusters
from .gallery.store import Gallery
from .generate import generate, named_folders
from .generate.report import write_report
from .generate.swap import remove_generated
from .sample.video import probe
from .store.atomic import write_json
from .store.files import read_faces, write_faces, write_vectors
from .store.layout import CLUSTERS_DIR, FACES_FILE, RUN_FILE, VECTORS_FILE
from .store.lock import Lock
from .store.records import VideoInfo, person_space
from .store.runinfo import read_run_info
from .store.shards import ShardStore, read_before

log = logging.getLogger("clusterpipe")

__all__ = ["RunResult", "assign_clusters", "evaluate_run", "face_tracks", "run", "tune"]


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


def _capped_workers(settings: RunSettings, jobs: Sequence[Job]) -> int:
    """-j, capped (and said) where more workers would only cost memory: beyond twice the cores
    of this machine (local engine), or beyond the frames left to encode."""
    workers = settings.workers
    limit = 2 * default_workers() if settings.engine == "local" else workers
    left = sum(
        max(1, math.ceil(j.video.duration_s * settings.encode.fps)) for j in jobs if not j.done
    )
    cap = max(1, min(limit, left or workers))
    if workers > cap:
        log.warning("-j %d is more than this run can use; using %d workers", workers, cap)
        return cap
    return workers


def _untouched_gallery_folders(out: Path, previous: dict) -> set[str]:
    """Folders the last run named from a gallery and the user has not changed since (a crop
    moved in or out, or deleted, makes a folder the user's: it is never regenerated)."""
    names = previous.get("gallery_names", {})
    if not names or not (out / FACES_FILE).exists():
        return set()
    expected: dict[str, set[str]] = defaultdict(set)
    for f in read_faces(out / FACES_FILE):
        if str(f.cluster) in names:
            expected[names[str(f.cluster)]].add(f.id)
    untouched = set()
    for name in set(names.values()):
        folder = out / CLUSTERS_DIR / name
        have = {p.stem for p in folder.glob("*.jpg")} if folder.is_dir() else set()
        if have == expected[name]:
            untouched.add(name)
    return untouched


def _before_reclustering(out: Path, named: bool) -> tuple[dict[str, int], dict] | None:
    """Take the user's corrections from the files before anything changes, and what
    clusterpipe last wrote (face id -> cluster label, run.json); None where there are no named
    folders and no corrections, so the run may regenerate everything."""
    from .people.repair import load_view, update_corrections

    view = load_view(out)
    corr = update_corrections(view)
    if not named and not corr.rejected and not corr.apart and not corr.together:
        return None
    return {f.id: f.cluster for f in view.faces}, view.info


def _recluster_around_named(
    out, settings, faces, crops, before, infos, failed, damaged, stats, t0, stage_s, attach
) -> RunResult:
    """New faces go to noise/ first, then everything not in a named folder is re-clustered."""
    from .generate import write_crops
    from .people.repair import recluster_locked

    clusters, old_info = before
    new = [f for f in faces if f.id not in clusters]
    write_crops(out, new, crops)
    for f in faces:
        f.cluster = clusters.get(f.id, -1)
    write_faces(out / FACES_FILE, faces)
    vectors = None
    if settings.encode.encoder != "dlib":
        space = person_space(faces, settings.encode.encoder)
        write_vectors(out / VECTORS_FILE, space)
        vectors = {"encoder": settings.encode.encoder, "dim": int(space.shape[1])}
        vectors["file"] = VECTORS_FILE
    info = {
        **old_info,
        "settings": {**asdict(settings), "shard_fingerprint": settings.shard_fingerprint()},
        "vectors": vectors,
        "versions": _versions(),
        "inputs": _inputs(infos, stats),
        "failed_inputs": failed,
    }
    write_json(out / RUN_FILE, info)
    t = time.perf_counter()
    res = recluster_locked(out, settings.cluster.eps, attach)
    stage_s["cluster"] = time.perf_counter() - t
    for folder, person, d in res.looks_like:
        done = ", attached" if folder in res.attached else ""
        log.info("%s looks like %s (%.2f%s)", folder, person, d, done)
    wall = time.perf_counter() - t0
    info = read_run_info(out)
    info["counts"] = {
        "faces": len(faces),
        "new_faces": len(new),
        "clusters": len(res.folders),
        "noise": res.noise,
        "frames_encoded_now": stats.frames,
    }
    info["times_s"] = {**{k: round(v, 3) for k, v in stage_s.items()}, "total": round(wall, 3)}
    write_json(out / RUN_FILE, info)
    return RunResult(
        out, len(faces), len(res.folders), res.noise, wall, infos, failed, stage_s, {}, damaged
    )


def _inputs(infos: Sequence[VideoInfo], stats: EncodeStats) -> list[dict]:
    """run.json's inputs: each video as probed, and what reading it saw (where it was read)."""
    return [
        {**asdict(v), **(stats.videos[v.key].to_json() if v.key in stats.videos else {})}
        for v in infos
    ]


def _previous_run(out: Path) -> dict:
    if not (out / RUN_FILE).exists():
        return {}
    return read_run_info(out)


def run(
    videos: Sequence[str],
    out: str | Path,
    settings: RunSettings | None = None,
    gallery: str | Path | None = None,
    threshold: float | None = None,
    attach: bool = False,
) -> RunResult:
    """Sample, detect, encode, cluster and generate per-person folders for `videos` into `out`.

    With `gallery`, clusters whose faces match a known person are named after them. On an OUT
    with folders the user named, those are kept and the rest is re-clustered around them
    (with `attach`, new faces that look like a named person join that person's folder).
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
    # Starting over is a new run: promote must not take it for the earlier one, whose people
    # stay in a gallery under the earlier run's id.
    previous = {} if settings.fresh else _previous_run(out)
    auto_named = _untouched_gallery_folders(out, previous)
    named = [n for n in named_folders(out) if n not in auto_named]
    # Folders the user named are kept: new faces and the unnamed rest are re-clustered around
    # them as `recluster` does (repair.py), obeying every correction.
    if named and settings.fresh:
        log.warning(
            "--fresh: discarding the faces of %d named folders (%s); their other files stay",
            len(named),
            ", ".join(named[:5]) + (", ..." if len(named) > 5 else ""),
        )
    elif named:
        log.info("keeping %d named folders (%s, ...)", len(named), ", ".join(named[:3]))
    stage_s: dict[str, float] = {}
    damaged: dict[str, str] = {}
    with Lock(out):
        enc = settings.encode
        store = ShardStore(out, settings.shard_fingerprint())
        store.prepare(settings.fresh, settings.shard_settings())
        if settings.fresh:  # the user asked to discard the folders, named ones included
            remove_generated(out, lambda name: True)
        jobs = [Job(v, frozenset(store.done_segments(v.key))) for v in infos]
        reused = sum(len(j.done) for j in jobs)
        if reused:
            log.info("resuming: %d finished shards reused", reused)
        t = time.perf_counter()
        seg_s = settings.segment_seconds
        read = {j.video.key: read_before(j.video.key, j.done, previous, seg_s) for j in jobs}
        todo = [j for j in jobs if read[j.video.key] is None]
        stats = EncodeStats()
        if todo:
            # The parent mostly waits while the encoders run: import clustering meanwhile
            # rather than before they start or after they finish, when a core would stand idle.
            threading.Thread(target=_import_all, args=(CLUSTER_MODULES,), daemon=True).start()
            engine = Engine.get(settings.engine)(
                workers=_capped_workers(settings, todo),
                segment_seconds=settings.segment_seconds,
                progress=settings.progress,
                address=settings.address,
            )
            stats = engine.encode(todo, enc, store)
        else:
            log.info("every video is already encoded: no worker started")
        for key, summary in read.items():
            if summary is not None:
                stats.videos[key] = summary
        stage_s["detect_encode"] = time.perf_counter() - t
        for key, vs in stats.videos.items():
            path = next(v.path for v in infos if v.key == key)
            if vs.error is not None:
                failed[path] = vs.error
            elif vs.ended_early:
                damaged[path] = (
                    f"damaged or truncated: read up to {vs.last_time_s:.1f} s, "
                    f"skipped {vs.skipped_s:.1f} s (see run.json)"
                )

        t = time.perf_counter()
        faces, crops, samples = store.merge(infos)
        stage_s["merge"] = time.perf_counter() - t

        before = None
        if not settings.fresh and (out / FACES_FILE).exists() and (out / RUN_FILE).exists():
            # Named folders, or corrections the files show (a crop deleted or moved), are
            # kept: the rest is re-clustered around them instead of regenerated. Read after
            # encoding, so that what the user changed meanwhile counts too.
            named_now = [n for n in named_folders(out) if n not in auto_named]
            if set(named_now) - set(named):
                log.info("keeping folders named during encoding too: %s", ", ".join(named_now))
            before = _before_reclustering(out, bool(named_now))
        if before is not None:
            return _recluster_around_named(
                out,
                settings,
                faces,
                crops,
                before,
                infos,
                failed,
                damaged,
                stats,
                t0,
                stage_s,
                attach,
            )
        t = time.perf_counter()
        clustering = cluster_run(faces, settings, samples)
        labels = clustering.labels
        stage_s["cluster"] = time.perf_counter() - t
        if clustering.choice:
            log.info(clustering.choice.summary())
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
        gen = generate(out, faces, crops, settings.progress, names, auto_named)
        stage_s["generate"] = time.perf_counter() - t

        n_clusters = int(labels.max() + 1) if len(labels) else 0
        n_noise = int((labels < 0).sum())
        wall = time.perf_counter() - t0
        run_info = {
            "run_id": previous.get("run_id") or uuid.uuid4().hex[:12],
            "gallery": str(Path(gallery).resolve()) if gallery else None,
            "gallery_names": {str(k): v for k, v in sorted(names.items())},
            "settings": {**asdict(settings), "shard_fingerprint": settings.shard_fingerprint()},
            "vectors": vectors,
            # The space clustered in, adapted or not and why, its radius and the evidence.
            "person_space": clustering.choice.to_json() if clustering.choice else None,
            "versions": _versions(),
            "inputs": _inputs(infos, stats),
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
        times: dict[str, float] = run_info["times_s"]  # type: ignore[assignment]
        times["report"] = round(time.perf_counter() - t, 3)
        write_json(out / RUN_FILE, run_info)
    return RunResult(
        out, len(faces), n_clusters, n_noise, wall, infos, failed, stage_s, names, damaged
    )
