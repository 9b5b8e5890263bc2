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
from dataclasses import asdict, dataclass, field, replace
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
from .gallery.identify import gallery_namer, name_clusters
from .gallery.store import Gallery
from .generate import generate, named_folders
from .generate.report import write_report
from .generate.swap import remove_generated
from .people.runview import keep_named
from .sample.video import probe
from .store.files import read_faces, write_faces, write_vectors
from .store.layout import CLUSTERS_DIR, FACES_FILE, RUN_FILE, VECTORS_FILE
from .store.lock import Lock
from .store.records import Face, VideoInfo, person_space
from .store.runinfo import RunInfo, RunInput, read_run_info
from .store.shards import MergeResult, ShardStore, read_before
from .store.writing import run_stopped, writing

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


def _untouched_gallery_folders(out: Path, previous: RunInfo | None) -> set[str]:
    """Folders the last run named from a gallery and the user has not changed since (a crop
    moved in or out, or deleted, makes a folder the user's: it is never regenerated)."""
    names = previous.gallery_names if previous else {}
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


def _previous_run(out: Path, fresh: bool) -> RunInfo | None:
    """The run.json an earlier run left in OUT (None with --fresh: starting over is a new
    run, and promote must not take it for the earlier one)."""
    return None if fresh or not (out / RUN_FILE).exists() else read_run_info(out)


@dataclass
class _Run:
    """What a run carries from stage to stage."""

    out: Path
    settings: RunSettings
    videos: list[VideoInfo]
    failed: dict[str, str]  # path -> why it could not be read
    previous: RunInfo | None
    auto_named: set[str]  # folders a gallery named that the user left alone: regenerated
    named: list[str]  # folders the user named
    t0: float  # when run() was called: the total counts the checks and probes too
    stage_s: dict[str, float] = field(default_factory=dict)
    damaged: dict[str, str] = field(default_factory=dict)
    stats: EncodeStats = field(default_factory=EncodeStats)
    reused: int = 0
    engine: Engine | None = None  # given by the caller; else the one the settings name

    def timed(self, stage: str, fn, *args, **kw):
        """fn(*args, **kw), its wall time recorded under `stage`."""
        t = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            self.stage_s[stage] = self.stage_s.get(stage, 0.0) + time.perf_counter() - t

    def result(self, faces: int, clusters: int, noise: int, names: dict[int, str]) -> RunResult:
        return RunResult(
            out=self.out,
            faces=faces,
            clusters=clusters,
            noise=noise,
            wall_s=time.perf_counter() - self.t0,
            videos=self.videos,
            failed=self.failed,
            stage_s=self.stage_s,
            names=names,
            damaged=self.damaged,
        )


def _start(videos: Sequence[str], out: Path, settings: RunSettings, gallery, t0: float) -> _Run:
    """Everything checked before any work: OUT, the gallery, the models, the videos; what an
    earlier run left in OUT and the folders the user named there."""
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out}: exists and is not a folder; choose another --out")
    if gallery:  # a missing, damaged or other-space gallery fails before any work
        Gallery.open(gallery).require(settings.encode.encoder, "this run")
    check_models(settings.encode)
    infos, failed = _probe_all(videos)
    previous = _previous_run(out, settings.fresh)
    auto_named = _untouched_gallery_folders(out, previous)
    named = [n for n in named_folders(out) if n not in auto_named]
    # Folders the user named are kept: new faces and the unnamed rest are re-clustered around
    # them as `recluster` does (people/repair.py), obeying every correction.
    keep_named(out, named, settings.fresh)
    return _Run(out, settings, infos, failed, previous, auto_named, named, t0)


def _encode(r: _Run) -> ShardStore:
    """Encode every segment without a finished shard (an engine's processes or tasks)."""
    settings = r.settings
    store = ShardStore(r.out, settings.shard_fingerprint())
    store.prepare(settings.fresh, settings.shard_settings())
    if settings.fresh:  # the user asked to discard the folders, named ones included
        remove_generated(r.out, lambda name: True)
    jobs = [Job(v, frozenset(store.done_segments(v.key))) for v in r.videos]
    r.reused = sum(len(j.done) for j in jobs)
    if r.reused:
        log.info("resuming: %d finished shards reused", r.reused)
    seg_s = settings.segment_seconds
    read = {j.video.key: read_before(j.video.key, j.done, r.previous, seg_s) for j in jobs}
    todo = [j for j in jobs if read[j.video.key] is None]
    if todo:
        # The parent mostly waits while the encoders run: import clustering meanwhile rather
        # than before they start or after they finish, when a core would stand idle.
        threading.Thread(target=_import_all, args=(CLUSTER_MODULES,), daemon=True).start()
        engine = r.engine or Engine.get(settings.engine).from_settings(
            settings, _capped_workers(settings, todo)
        )
        r.stats = r.timed("detect_encode", engine.encode, todo, settings.encode, store)
    else:
        r.stage_s["detect_encode"] = 0.0
        log.info("every video is already encoded: no worker started")
    for key, summary in read.items():
        if summary is not None:
            r.stats.videos[key] = summary
    for key, vs in r.stats.videos.items():
        path = next(v.path for v in r.videos if v.key == key)
        if vs.error is not None:
            r.failed[path] = vs.error
        elif damage := vs.damage():
            r.damaged[path] = f"{damage} (see run.json)"
    return store


def _corrections_before(r: _Run) -> tuple[dict[str, int], RunInfo] | None:
    """What clusterpipe last wrote (face id -> label, run.json) where the user named folders or
    corrected files (corrections taken from them), else None: the run may regenerate all.
    Read after encoding, so that what the user changed meanwhile counts too."""
    from .people.repair import load_view, update_corrections

    out = r.out
    fresh = r.settings.fresh or not (out / FACES_FILE).exists() or not (out / RUN_FILE).exists()
    if fresh or run_stopped(out):  # a run stopped writing the folders: not the user's edits
        return None
    named_now = [n for n in named_folders(out) if n not in r.auto_named]
    if set(named_now) - set(r.named):
        log.info("keeping folders named during encoding too: %s", ", ".join(named_now))
    view = load_view(out)
    corr = update_corrections(view)
    if not named_now and not corr.rejected and not corr.apart and not corr.together:
        return None
    return {f.id: f.cluster for f in view.faces}, view.info


def _write_vectors(out: Path, faces: list[Face], encoder: str) -> dict | None:
    """OUT/vectors.npy for a space other than dlib's (run.json's `vectors`); an earlier
    run's, with another encoder, removed."""
    if encoder == "dlib":
        with contextlib.suppress(FileNotFoundError):
            (out / VECTORS_FILE).unlink()  # ours, from an earlier run with another encoder
        return None
    space = person_space(faces, encoder)
    write_vectors(out / VECTORS_FILE, space)
    return {"encoder": encoder, "dim": int(space.shape[1]), "file": VECTORS_FILE}


def _run_info(r: _Run, vectors: dict | None, base: RunInfo | None = None, **fields) -> RunInfo:
    """run.json for this run: settings, versions, inputs and what they did (on `base`: the
    earlier run.json where the run re-clusters around named folders)."""
    settings = r.settings
    return replace(
        base or RunInfo(),
        run_id=(r.previous.run_id if r.previous else "") or uuid.uuid4().hex[:12],
        settings={**asdict(settings), "shard_fingerprint": settings.shard_fingerprint()},
        vectors=vectors,
        versions=_versions(),
        inputs=[RunInput(v, r.stats.videos.get(v.key)) for v in r.videos],
        failed_inputs=r.failed,
        **fields,
    )


def _times(r: _Run, stats: EncodeStats | None = None) -> dict[str, float]:
    """run.json's times_s: each stage's wall time, the encoders' CPU where measured, total."""
    times = {k: round(v, 3) for k, v in r.stage_s.items()}
    if stats is not None:
        times["detect_encode_cpu"] = round(stats.cpu_s, 3)
        times["detect_cpu"] = round(stats.detect_cpu_s, 3)
        for key, value in (
            ("reader_cpu", stats.reader_cpu_s),
            ("encoder_process_cpu", stats.encoder_process_cpu_s),
        ):
            if value is not None:
                times[key] = round(value, 3)
    times["total"] = round(time.perf_counter() - r.t0, 3)
    return times


def _around_named(
    r: _Run, merged: MergeResult, before, attach: bool, gallery, threshold: float | None
) -> RunResult:
    """New faces go to noise/ first, then everything not in a named folder is re-clustered
    (the repair loop's recluster); with a gallery, the groups it recognises are named."""
    from .generate import write_crops
    from .people.repair import recluster_locked

    clusters, old_info = before
    faces = merged.faces
    new = [f for f in faces if f.id not in clusters]
    write_crops(r.out, new, merged.crops)
    for f in faces:
        f.cluster = clusters.get(f.id, -1)
    write_faces(r.out / FACES_FILE, faces)
    vectors = _write_vectors(r.out, faces, r.settings.encode.encoder)
    _run_info(r, vectors, old_info, counts={**old_info.counts, "faces": len(faces)}).write(r.out)
    namer = gallery_namer(gallery, threshold) if gallery else None
    res = r.timed("cluster", recluster_locked, r.out, r.settings.cluster.eps, attach, namer)
    for person, n in res.from_gallery.items():
        log.info("recognised from the gallery: %s (%d faces)", person, n)
    for folder, person, d in res.looks_like:
        done = ", attached" if folder in res.attached else ""
        log.info("%s looks like %s (%.2f%s)", folder, person, d, done)
    made = len(res.folders) + len(res.from_gallery)  # the groups a gallery named count too
    counts = {
        "faces": len(faces),
        "new_faces": len(new),
        "clusters": made,
        "noise": res.noise,
        "frames_encoded_now": r.stats.frames,
    }
    replace(read_run_info(r.out), counts=counts, times_s=_times(r)).write(r.out)
    return r.result(len(faces), made, res.noise, {})


def _fresh(r: _Run, merged: MergeResult, gallery, threshold: float | None) -> RunResult:
    """Cluster every face, name clusters from a gallery, write the folders, report, run.json."""
    settings, faces = r.settings, merged.faces
    clustering = r.timed("cluster", cluster_run, faces, settings, merged.samples)
    labels = clustering.labels
    if clustering.choice:
        log.info(clustering.choice.summary())
    encoder = settings.encode.encoder
    names = name_clusters(faces, gallery, threshold, encoder) if gallery else {}
    with writing(r.out, "run"):  # stopped before the end, the next run writes them again
        write_faces(r.out / FACES_FILE, faces)
        vectors = _write_vectors(r.out, faces, encoder)
        gen = r.timed(
            "generate", generate, r.out, faces, merged.crops, settings.progress, names, r.auto_named
        )
    n_clusters = int(labels.max() + 1) if len(labels) else 0
    n_noise = int((labels < 0).sum())
    info = _run_info(
        r,
        vectors,
        gallery=str(Path(gallery).resolve()) if gallery else None,
        gallery_names={str(k): v for k, v in sorted(names.items())},
        # The space clustered in, adapted or not and why, its radius and the evidence.
        person_space=clustering.choice.to_json() if clustering.choice else None,
        counts={
            "faces": len(faces),
            "clusters": n_clusters,
            "noise": n_noise,
            "frames_encoded_now": r.stats.frames,
            "shards_reused": r.reused,
            "shards_written": r.stats.shards_written,
            **gen,
        },
    )
    info.times_s = _times(r, r.stats)
    t = time.perf_counter()
    write_report(r.out, faces, info, names)
    info.times_s["report"] = round(time.perf_counter() - t, 3)
    info.write(r.out)
    return r.result(len(faces), n_clusters, n_noise, names)


def run(
    videos: Sequence[str],
    out: str | Path,
    settings: RunSettings | None = None,
    gallery: str | Path | None = None,
    threshold: float | None = None,
    attach: bool = False,
    engine: Engine | None = None,
) -> RunResult:
    """Sample, detect, encode, cluster and generate per-person folders for `videos` into `out`.

    With `gallery`, clusters whose faces match a known person are named after them. On an OUT
    with folders the user named, those are kept and the rest is re-clustered around them
    (with `attach`, new faces that look like a named person join that person's folder).
    `engine`: where to encode (say a DaskEngine on a scheduler of your own); by default the
    one `settings.engine` names.
    """
    r = _start(videos, Path(out), settings or RunSettings(), gallery, time.perf_counter())
    r.engine = engine
    with Lock(r.out):
        store = _encode(r)
        merged = r.timed("merge", store.merge, r.videos)
        before = _corrections_before(r)
        if before is not None:
            return _around_named(r, merged, before, attach, gallery, threshold)
        return _fresh(r, merged, gallery, threshold)
