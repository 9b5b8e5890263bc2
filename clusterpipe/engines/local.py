"""The local engine: reader process -> bounded queue -> N encoder processes -> shard writer.

The reader decodes the frames the samples need and copies each sample, at its original size,
into a shared-memory slot (processes.FrameRing); encoders load the models once, shrink, detect
and encode; the parent collects results per segment and writes one JSON shard per finished
segment. Queues are bounded and end with sentinels; any stage's failure stops the run with a
clear error, and `finally` stops, drains and joins every process.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing as mp
import os
import queue
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import EncodeSettings
from ..errors import ClusterpipeError, WorkerError
from ..interrupts import whole
from ..store.records import VideoStats
from ..store.shards import ShardStore, segment_of
from .base import EncodeStats, Engine, Job, read_stats
from .messages import (
    FrameDone,
    FrameTask,
    ProcessDone,
    SegmentDone,
    StageFailed,
    VideoDone,
    VideoFailed,
)
from .processes import FrameRing, child_setup, ctrl_c_held, get, own_cpu, put

log = logging.getLogger("clusterpipe")

_POLL_S = 0.5
_JOIN_S = 0.5


def _error_message(stage: str, e: BaseException) -> StageFailed:
    if isinstance(e, ClusterpipeError):
        return StageFailed(stage, str(e), traceback.format_exc())
    return StageFailed(
        stage, f"the {stage} stage failed: {type(e).__name__}: {e}", traceback.format_exc()
    )


def _reader(
    jobs,
    enc: EncodeSettings,
    seg_s: float,
    n_workers: int,
    ring: FrameRing,
    frame_q,
    result_q,
    stop,
):
    from ..sample.video import ReadReport, sample_frames

    child_setup()
    try:
        for vi, job in enumerate(jobs):
            report = ReadReport()
            counts: dict[int, int] = {}
            current = None
            done = job.done

            def keep(t: float, done=done) -> bool:
                return segment_of(t, seg_s) not in done

            try:
                for s in sample_frames(
                    job.video.path, enc.fps, report, keep=keep, decoder=enc.decoder
                ):
                    if stop.is_set():
                        return
                    seg = segment_of(s.time_s, seg_s)
                    if current is not None and seg != current:
                        result_q.put(SegmentDone(vi, current, counts[current]))
                    current = seg
                    slot = get(ring.free, stop)
                    if slot is None:
                        return
                    image = np.ascontiguousarray(s.image)
                    ring.view(slot, image.shape)[...] = image
                    item = FrameTask(vi, seg, s.frame_index, s.time_s, slot, image.shape)
                    if not put(frame_q, item, stop):
                        return
                    counts[seg] = counts.get(seg, 0) + 1
            except ClusterpipeError as e:
                result_q.put(VideoFailed(vi, str(e)))
                continue
            if current is not None:
                result_q.put(SegmentDone(vi, current, counts[current]))
            result_q.put(
                VideoDone(vi, report.frames_read, report.last_time_s, report.damaged_frames)
            )
    except BaseException as e:
        result_q.put(_error_message("reader", e))
    finally:
        for _ in range(n_workers):
            if not put(frame_q, None, stop):
                break
        result_q.put(ProcessDone(None, own_cpu()))
        ring.close()


@contextlib.contextmanager
def _one_thread_per_child():
    """Children read these at import time: one BLAS/OpenMP thread per process. Set only while
    the children start, so the caller's own environment is left as it was."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {n: os.environ.get(n) for n in names}
    for n in names:
        os.environ.setdefault(n, "1")
    try:
        yield
    finally:
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


def _worker(wid: int, enc: EncodeSettings, ring: FrameRing, frame_q, result_q, current, stop):
    child_setup()
    try:
        import cv2

        from ..encode.dlib import FaceEncoder
        from ..encode.frame import process_frame

        cv2.setNumThreads(1)
        encoder = FaceEncoder(enc)
        while not stop.is_set():
            task = frame_q.get()
            if task is None:
                break
            current[0], current[1] = task.video, task.frame_index
            try:
                res = process_frame(encoder, ring.view(task.slot, task.shape), enc)
            finally:
                ring.free.put(task.slot)
            result_q.put(FrameDone(task.video, task.segment, task.frame_index, task.time_s, res))
            current[0] = current[1] = -1
    except BaseException as e:
        result_q.put(_error_message(f"encoder {wid}", e))
    finally:
        result_q.put(ProcessDone(wid, own_cpu()))
        ring.close()


class _Segments:
    """Collects results per (video, segment) and writes a shard once it is complete."""

    def __init__(self, jobs: list[Job], store: ShardStore, stats: EncodeStats) -> None:
        self.jobs, self.store, self.stats = jobs, store, stats
        self.frames: dict[tuple[int, int], list] = {}
        self.expected: dict[tuple[int, int], int] = {}

    def add(self, vi: int, seg: int, frame_index: int, time_s: float, res) -> None:
        self.frames.setdefault((vi, seg), []).append((frame_index, time_s, res))
        self._maybe_write(vi, seg)

    def close(self, vi, seg, count) -> None:
        self.expected[(vi, seg)] = count
        self._maybe_write(vi, seg)

    def _maybe_write(self, vi, seg) -> None:
        got = self.frames.get((vi, seg), [])
        if self.expected.get((vi, seg)) != len(got):
            return
        self.store.write_segment(self.jobs[vi].video, seg, got)
        self.stats.shards_written += 1
        del self.frames[(vi, seg)], self.expected[(vi, seg)]

    def unfinished(self) -> int:
        return len(self.frames) + len(self.expected)


def encode_videos(
    jobs: list[Job],
    enc: EncodeSettings,
    store: ShardStore,
    workers: int,
    segment_seconds: float,
    progress: bool = True,
) -> EncodeStats:
    """Run the staged pipeline over `jobs`, writing one shard per finished segment."""
    from tqdm import tqdm

    stats = EncodeStats()
    if not jobs:
        return stats
    t_start = time.perf_counter()
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    frame_q = ctx.Queue(maxsize=2 * workers)
    result_q = ctx.Queue(maxsize=64 * workers)
    currents = [ctx.Array("l", [-1, -1], lock=False) for _ in range(workers)]
    slot_bytes = max(j.video.width * j.video.height * 3 for j in jobs)
    ring = FrameRing(ctx, 2 * workers + 2, slot_bytes)
    reader = ctx.Process(
        target=_reader,
        name="clusterpipe-reader",
        daemon=True,
        args=(jobs, enc, segment_seconds, workers, ring, frame_q, result_q, stop),
    )
    encoders = [
        ctx.Process(
            target=_worker,
            name=f"clusterpipe-encoder-{i}",
            daemon=True,
            args=(i, enc, ring, frame_q, result_q, currents[i], stop),
        )
        for i in range(workers)
    ]
    segments = _Segments(jobs, store, stats)
    total = sum(_expected_samples(j, enc.fps, segment_seconds) for j in jobs)
    bar = tqdm(
        total=total or None,
        unit="frame",
        desc="detect+encode",
        disable=not progress,
        dynamic_ncols=True,
    )
    procs = [reader, *encoders]
    children = _Children(reader, encoders, currents, jobs, set(range(workers)))
    try:
        # Ctrl-C is held in the children until they ignore it, and deferred here until every
        # child has its start-up data (one cut short reads a truncated pickle: a traceback).
        with _one_thread_per_child(), ctrl_c_held(), whole():
            for p in procs:
                p.start()
        while not children.finished:
            try:
                msg = result_q.get(timeout=_POLL_S)
            except queue.Empty:
                children.check()
                continue
            if isinstance(msg, FrameDone):
                res = msg.result
                stats.frames += 1
                stats.faces += len(res.boxes)
                stats.cpu_s += res.cpu_s
                stats.detect_cpu_s += res.detect_cpu_s
                segments.add(msg.video, msg.segment, msg.frame_index, msg.time_s, res)
                bar.update(1)
            elif isinstance(msg, SegmentDone):
                segments.close(msg.video, msg.segment, msg.frames)
            elif isinstance(msg, VideoDone):
                job = jobs[msg.video]
                stats.videos[job.video.key] = read_stats(
                    job.video, msg.frames_read, msg.last_time_s, msg.damaged_frames
                )
            elif isinstance(msg, VideoFailed):
                stats.videos[jobs[msg.video].video.key] = VideoStats(error=msg.error)
                log.error("%s", msg.error)
            elif isinstance(msg, ProcessDone) and msg.worker is not None:
                children.alive.discard(msg.worker)
                stats.encoder_process_cpu_s = (stats.encoder_process_cpu_s or 0.0) + msg.cpu_s
            elif isinstance(msg, ProcessDone):
                children.reader_done = True
                stats.reader_cpu_s = msg.cpu_s
            elif isinstance(msg, StageFailed):
                log.debug("%s failed:\n%s", msg.stage, msg.traceback)
                raise WorkerError(msg.error)
        if segments.unfinished():
            raise WorkerError("the pipeline ended with unfinished segments; run again to resume")
    finally:
        stop.set()
        bar.close()
        _shutdown(procs, [frame_q, result_q, ring.free])
        ring.close(unlink=True)
    stats.wall_s = time.perf_counter() - t_start
    return stats


def _expected_samples(job: Job, fps: float, seg_s: float) -> int:
    d = job.video.duration_s
    if d <= 0:
        return 0
    n = math.floor(d * fps - 1e-9) + 1
    return sum(1 for k in range(n) if segment_of(k / fps, seg_s) not in job.done)


@dataclass
class _Children:
    """The reader and encoder processes, and what the parent has heard from them."""

    reader: Any
    encoders: list
    currents: list  # per encoder: (video index, frame index) it is on, shared memory
    jobs: list[Job]
    alive: set[int] = field(default_factory=set)  # encoders that have not said goodbye
    reader_done: bool = False

    @property
    def finished(self) -> bool:
        return self.reader_done and not self.alive

    def check(self) -> None:
        """Raise if a process died without saying goodbye (segfault, OOM kill)."""
        for wid in list(self.alive):
            p = self.encoders[wid]
            if p.exitcode is not None and p.exitcode != 0:
                vi, fidx = self.currents[wid][0], self.currents[wid][1]
                video = self.jobs[vi].video.path if vi >= 0 else ""
                where = f" while encoding frame {fidx} of {video}" if vi >= 0 else ""
                raise WorkerError(
                    f"encoder process {wid} died (exit code {p.exitcode}){where}; "
                    "finished shards are kept: run the same command again to resume"
                )
        if not self.reader_done and self.reader.exitcode not in (None, 0):
            raise WorkerError(
                f"the reader process died (exit code {self.reader.exitcode}); "
                "run the same command again to resume"
            )


def _shutdown(procs, queues) -> None:
    """Stop every child quickly: only the parent writes shards, so children hold nothing.

    On a normal end they have already exited; on an error or Ctrl-C they are terminated at once
    rather than waiting for a frame in flight, so the run stops within a second.
    """
    procs = [p for p in procs if p.pid is not None]  # Ctrl-C may come before all started
    deadline = time.monotonic() + _JOIN_S
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=1)
        if p.is_alive():
            p.kill()
            p.join()
    for q in queues:
        q.cancel_join_thread()
        q.close()


class LocalEngine(Engine):
    name = "local"

    def encode(self, jobs: list[Job], enc: EncodeSettings, store: ShardStore) -> EncodeStats:
        return encode_videos(jobs, enc, store, self.workers, self.segment_seconds, self.progress)
