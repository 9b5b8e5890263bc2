"""What the local engine's processes tell each other: one small record per kind of message
(queues carry these; a None on the frame queue is the end)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FrameTask:
    """Reader -> encoders: a sampled frame, in slot `slot` of the shared frame ring."""

    video: int  # index of the job
    segment: int
    frame_index: int
    time_s: float
    slot: int
    shape: tuple[int, ...]


@dataclass(frozen=True)
class FrameDone:
    """Encoder -> parent: the faces of one frame (encode.frame.FrameResult)."""

    video: int
    segment: int
    frame_index: int
    time_s: float
    result: Any


@dataclass(frozen=True)
class SegmentDone:
    """Reader -> parent: every frame of a segment was sent (`frames` of them)."""

    video: int
    segment: int
    frames: int


@dataclass(frozen=True)
class VideoDone:
    """Reader -> parent: a video was read to its end (or as far as it could be)."""

    video: int
    frames_read: int
    last_time_s: float
    damaged_frames: int


@dataclass(frozen=True)
class VideoFailed:
    """Reader -> parent: a video could not be read; the others go on."""

    video: int
    error: str


@dataclass(frozen=True)
class ProcessDone:
    """A child's last message: its own CPU time (worker None: the reader)."""

    worker: int | None
    cpu_s: float


@dataclass(frozen=True)
class StageFailed:
    """A child failed: the run stops and the parent raises `error` (traceback for -v)."""

    stage: str
    error: str
    traceback: str
