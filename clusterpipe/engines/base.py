"""What every engine shares: the interface, the jobs it is given and the stats it returns."""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass, field, replace
from typing import ClassVar

from ..config import EncodeSettings, RunSettings
from ..registry import Registered
from ..store.records import VideoInfo, VideoStats
from ..store.shards import ShardStore


@dataclass(frozen=True)
class Job:
    """One video to encode and the segments already finished for it."""

    video: VideoInfo
    done: frozenset[int] = frozenset()


@dataclass
class EncodeStats:
    """What the encoding stage did, for run.json and the summary."""

    frames: int = 0
    faces: int = 0
    shards_written: int = 0
    cpu_s: float = 0.0  # detector + encoder CPU time summed over workers
    detect_cpu_s: float = 0.0  # the detector's part of cpu_s
    wall_s: float = 0.0
    # Whole-process CPU of the reader (decoding) and of the encoder processes (detector +
    # encoder + the rest of their per-frame work and start-up): where the overhead goes.
    # None where the engine does not measure them (Dask).
    reader_cpu_s: float | None = None
    encoder_process_cpu_s: float | None = None
    videos: dict[str, VideoStats] = field(default_factory=dict)  # by video key


log = logging.getLogger("clusterpipe")


def read_stats(
    video: VideoInfo,
    frames_read: int | None,
    last_t: float,
    damaged: int,
    gaps: tuple[tuple[float, float], ...] = (),
) -> VideoStats:
    """A video's read stats (VideoStats.read), with a warning where it ended early or could not
    be decoded in places (`gaps`)."""
    stats = replace(VideoStats.read(video, frames_read, last_t, damaged), gaps=gaps)
    for a, b in gaps:
        log.warning(
            "%s: could not decode %.1f-%.1f s (damaged); that part was skipped", video.path, a, b
        )
    if stats.ended_early:
        read = f"frame {frames_read} of {video.frame_count}" if frames_read is not None else ""
        log.warning(
            "%s: decoding stopped at %.1f s of %.1f s%s: the file looks truncated or damaged; "
            "the rest was skipped",
            video.path,
            last_t,
            video.duration_s,
            f" ({read})" if read else "",
        )
    return stats


class Engine(Registered, abc.ABC):
    """Base of engines: encode(jobs) writes one shard per segment into the store."""

    registry: ClassVar[dict[str, type[Engine]]] = {}
    kind = "engine"

    def __init__(self, workers: int, segment_seconds: float, progress: bool = True) -> None:
        self.workers, self.segment_seconds, self.progress = workers, segment_seconds, progress

    @classmethod
    def from_settings(cls, settings: RunSettings, workers: int) -> Engine:
        """The engine a run's settings ask for, with `workers` processes or tasks at once."""
        return cls(workers, settings.segment_seconds, settings.progress)

    @abc.abstractmethod
    def encode(self, jobs: list[Job], enc: EncodeSettings, store: ShardStore) -> EncodeStats:
        """Encode every job's unfinished segments; return what was done."""
