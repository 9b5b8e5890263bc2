"""Dask distributed: one task per segment of one video, addressed by (path, start, length).

Workers open the video at the same path, seek and decode their segment themselves, so no frame
travels through the scheduler, and write the segment's shard atomically into the shared output
folder: a retried or duplicated task rewrites the same shard, so nothing is lost or doubled.
"""

from __future__ import annotations

import logging
import math
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from ..config import EncodeSettings, RunSettings
from ..errors import ClusterpipeError, InputError, WorkerError
from ..sample.video import ReadReport, sample_frames
from ..store.records import VideoInfo, VideoStats
from ..store.shards import ShardStore, segment_of
from .base import EncodeStats, Engine, Job, read_stats
from .processes import keep_frame_buffers

log = logging.getLogger("clusterpipe")

RETRIES = 3
CONNECT_S = 20  # to reach a scheduler given by --address
IN_FLIGHT_PER_WORKER = 2


def encode_segment(
    video: dict, segment: int, segment_seconds: float, settings: dict, out: str, fingerprint: str
) -> dict:
    """On a worker: sample, detect and encode one segment, write its shard; return counts."""
    from ..encode.dlib import FaceEncoder
    from ..encode.frame import process_frame

    info = VideoInfo(**video)
    enc = EncodeSettings(**settings)
    encoder = _encoder(enc, FaceEncoder)
    report = ReadReport()
    results, cpu, detect_cpu = [], 0.0, 0.0
    try:
        for s in sample_frames(
            info.path,
            enc.fps,
            report,
            keep=lambda t: segment_of(t, segment_seconds) == segment,
            start_s=segment * segment_seconds,
            until=lambda t: segment_of(t, segment_seconds) > segment,
            decoder=enc.decoder,
        ):
            res = process_frame(encoder, s.image, enc)
            cpu += res.cpu_s
            detect_cpu += res.detect_cpu_s
            results.append((s.frame_index, s.time_s, res))
    except InputError:
        raise InputError(
            f"{info.path}: cannot be opened on worker {socket.gethostname()}; "
            "videos must be readable at the same path on every worker"
        ) from None
    if results:
        ShardStore(Path(out), fingerprint).write_segment(info, segment, results)
    return {
        "segment": segment,
        "frames": len(results),
        "cpu_s": cpu,
        "detect_cpu_s": detect_cpu,
        "eof": not report.stopped_early,
        "faces": sum(len(r[2].boxes) for r in results),
        "last_time_s": report.last_time_s,
        "damaged_frames": report.damaged_frames,
    }


def gaps(
    parts: list[tuple[int, bool, float]], segment_seconds: float
) -> tuple[tuple[float, float], ...]:
    """Where a video could not be decoded, from its segments' reads (segment, whether the stream
    ended inside it, last time read): a segment whose stream ended, with frames read after it by
    a later one, lost the rest of it (damage the next segment's seek skipped)."""
    last = max((t for _, _, t in parts), default=0.0)
    out: list[tuple[float, float]] = []
    for seg, ended, t in sorted(parts):
        end = round((seg + 1) * segment_seconds, 3)
        if ended and last > end:
            start = round(max(t, seg * segment_seconds), 3)
            if out and out[-1][1] >= start:  # one stretch across segments
                start = out.pop()[0]
            out.append((start, end))
    return tuple(out)


def _task_failed(e: Exception, client_status: str) -> WorkerError:
    """What to say of a task that failed: the scheduler lost (its tasks cancelled, none
    retried) or the task's own error after its retries."""
    if "Cancelled" in type(e).__name__ or client_status != "running":
        return WorkerError(
            f"lost the Dask scheduler ({type(e).__name__}: {e}); finished shards are kept: "
            "start it again and run the same command to resume"
        )
    return WorkerError(f"a Dask task failed after {RETRIES} retries: {type(e).__name__}: {e}")


def _connect(client_type, address: str):
    """A client of the scheduler at `address`, or a one-line error within CONNECT_S. Dask's
    own timeout does not cover its handshake: a port that accepts and never answers as a
    scheduler (its dashboard, any web server) would hang, and one that answers otherwise can
    make it allocate exabytes. So the client is made in a thread we stop waiting for."""
    made: dict = {}

    def connect() -> None:
        try:
            made["client"] = client_type(address, timeout=f"{CONNECT_S}s")
        except BaseException as e:  # any failure to connect is the address's, said below
            made["error"] = e

    thread = threading.Thread(target=connect, name="clusterpipe-dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_S + 5)
    if "client" in made:
        return made["client"]
    why = (
        f"{type(made['error']).__name__}: {made['error']}"
        if "error" in made
        else f"no answer as a scheduler within {CONNECT_S + 5} s"
    )
    raise InputError(
        f"cannot reach the Dask scheduler at {address} ({why}); give the address `dask "
        "scheduler` prints, such as tcp://host:8786 (not its dashboard's), and check it runs"
    )


_ENCODERS: dict = {}


def _encoder(enc: EncodeSettings, factory):
    """Models load once per worker process, not once per task."""
    if enc not in _ENCODERS:
        if not _ENCODERS:
            keep_frame_buffers()
        _ENCODERS[enc] = factory(enc)
    return _ENCODERS[enc]


class DaskEngine(Engine):
    name = "dask"

    def __init__(
        self,
        workers: int,
        segment_seconds: float,
        progress: bool = True,
        address: str | None = None,
    ) -> None:
        super().__init__(workers, segment_seconds, progress)
        self.address = address  # an existing scheduler; None: a LocalCluster of `workers`

    @classmethod
    def from_settings(cls, settings: RunSettings, workers: int) -> DaskEngine:
        return cls(workers, settings.segment_seconds, settings.progress, settings.address)

    def _segments(self, job: Job) -> list[int]:
        """The segments of a video still to encode. The last one (or the one past the last
        finished segment, where the container reports no duration) goes on to the next while
        its video has not ended, so a video is read to its end whatever its container says."""
        seg_s = self.segment_seconds
        known = math.ceil(job.video.duration_s / seg_s) if job.video.duration_s > 0 else 0
        top = max(1, known, max(job.done, default=-1) + 1)
        todo = [s for s in range(top) if s not in job.done]
        last_done = not todo or todo[-1] != top - 1
        if last_done and (known == 0 or top > known):
            # The last finished segment may not be the video's last: look past it.
            todo.append(top)
        return todo

    def encode(self, jobs: list[Job], enc: EncodeSettings, store: ShardStore) -> EncodeStats:
        try:
            from dask.distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise ClusterpipeError(
                "--engine dask needs Dask: pip install 'clusterpipe[dask]'"
            ) from None
        from tqdm import tqdm

        stats = EncodeStats()
        t0 = time.perf_counter()
        cluster = None
        scratch = None
        try:
            if self.address:
                client = _connect(Client, self.address)
            else:
                # The workers' spill space lives under OUT, ours alone, removed at the end.
                scratch = Path(tempfile.mkdtemp(prefix=".dask-", dir=store.root.parent))
                cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    local_directory=str(scratch),
                )
                client = Client(cluster)
        except OSError as e:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            raise ClusterpipeError(f"the local Dask cluster did not start ({e})") from None
        try:
            pending = []
            for vi, job in enumerate(jobs):
                pending += [(vi, s) for s in self._segments(job)]
            total = len(pending)
            n_workers = max(1, len(client.scheduler_info().get("workers", {})) or self.workers)
            limit = IN_FLIGHT_PER_WORKER * n_workers
            bar = tqdm(
                total=total,
                unit="segment",
                desc="detect+encode (dask)",
                disable=not self.progress,
                dynamic_ncols=True,
            )
            queue = list(pending)
            running = as_completed()
            owner = {}

            def submit(vi: int, seg: int) -> None:
                job = jobs[vi]
                fut = client.submit(
                    encode_segment,
                    asdict(job.video),
                    seg,
                    self.segment_seconds,
                    asdict(enc),
                    str(store.root.parent.absolute()),  # a worker's own cwd is elsewhere
                    store.fingerprint,
                    retries=RETRIES,
                    pure=False,
                    key=f"clusterpipe-{job.video.key}-{seg}-{time.time_ns()}",
                )
                owner[fut.key] = vi
                running.add(fut)

            while queue and running.count() < limit:
                submit(*queue.pop(0))
            failed: dict[int, str] = {}
            reads: dict[int, list[dict]] = {}  # video -> what each of its tasks read
            for fut in running:
                vi = owner.pop(fut.key)
                try:
                    r = fut.result()
                except InputError as e:
                    failed[vi] = str(e)
                    queue = [q for q in queue if q[0] != vi]
                    r = None
                except Exception as e:
                    raise _task_failed(e, client.status) from e
                bar.update(1)
                if r is not None:
                    if r["frames"] and not store.path(jobs[vi].video.key, r["segment"]).exists():
                        raise WorkerError(
                            f"a Dask worker wrote its shard where this machine cannot see it: "
                            f"{store.root.parent.absolute()} must be one folder shared by every "
                            "worker at the same path"
                        )
                    reads.setdefault(vi, []).append(r)
                    stats.frames += r["frames"]
                    stats.faces += r["faces"]
                    stats.cpu_s += r["cpu_s"]
                    stats.detect_cpu_s += r["detect_cpu_s"]
                    stats.shards_written += 1 if r["frames"] else 0
                    last = max(s for v, s in pending if v == vi)
                    if r["segment"] == last and not r["eof"]:
                        # The container under-reported the duration: keep going.
                        queue.append((vi, last + 1))
                        pending.append((vi, last + 1))
                        bar.total += 1
                if queue:
                    submit(*queue.pop(0))
            bar.close()
            for vi, text in failed.items():
                stats.videos[jobs[vi].video.key] = VideoStats(error=text)
                log.error("%s", text)
            # Segments overlap (each seeks back before its start): frames are not counted, so
            # a video that ended early is judged by its last timestamp, where a task of this
            # run read it to its end (a resumed video's tail may be from an earlier run).
            for vi, rs in reads.items():
                if vi not in failed and any(r["eof"] for r in rs):
                    stats.videos[jobs[vi].video.key] = read_stats(
                        jobs[vi].video,
                        None,
                        max(r["last_time_s"] for r in rs),
                        sum(r["damaged_frames"] for r in rs),
                        gaps(
                            [(r["segment"], r["eof"], r["last_time_s"]) for r in rs],
                            self.segment_seconds,
                        ),
                    )
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        stats.wall_s = time.perf_counter() - t0
        return stats
