"""What sampling yields and reports; shared by video.py (probe, sample_frames) and decoders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_SANE_FPS = 1000.0
SEEK_MARGIN_S = 1.0  # seek this far before a start time, then decode forward to exact times


@dataclass(frozen=True)
class Sample:
    """One sampled frame: its index in the stream, its timestamp and the decoded image."""

    frame_index: int
    time_s: float
    image: np.ndarray


@dataclass
class ReadReport:
    """What a sampling pass saw; filled while iterating."""

    frames_read: int = 0
    frames_decoded: int = 0  # frames the decoder produced (the rest were skipped)
    last_time_s: float = 0.0
    damaged_frames: int = 0
    stopped_early: bool = False  # ended by `until`, not by the end of the stream
