"""Frame decoders: yield the first frame at or after each k/fps s, decoding as little as they can.

Both decoders sample by the stream's timestamps (never by counting frames at the container's
fps) and return the same frames: `pyav` is the default because it decodes about half as much
of an H.264 stream with B-frames (bench/decode.py).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Generator, Iterator
from typing import ClassVar

import cv2
import numpy as np

from ..errors import ClusterpipeError, InputError
from ..registry import Registered
from .packets import Barriers, Timeline
from .samples import MAX_SANE_FPS, SEEK_MARGIN_S, ReadReport, Sample

log = logging.getLogger("clusterpipe")

SLACK_S = 5e-4  # absorbs timestamp rounding in containers


class _Targets:
    """The sampling times k/fps from start_s on, and which decoded frame is the next sample."""

    def __init__(self, fps: float, start_s: float) -> None:
        self.step = 1.0 / fps
        self.k = math.ceil(start_s * fps - 1e-9)  # the next sampling time is k * step

    def hit(self, t: float) -> bool:
        """True for the first frame at or after the next sampling time (then move past it)."""
        if t + SLACK_S < self.k * self.step:
            return False
        while self.k * self.step <= t + SLACK_S:
            self.k += 1
        return True


class Decoder(Registered):
    """Base of decoders; `samples` has the contract of video.sample_frames."""

    registry: ClassVar[dict[str, type[Decoder]]] = {}
    kind = "decoder"

    def samples(
        self,
        path: str,
        fps: float,
        report: ReadReport,
        keep: Callable[[float], bool] | None,
        start_s: float,
        until: Callable[[float], bool] | None,
    ) -> Iterator[Sample]:
        raise NotImplementedError


class OpenCVDecoder(Decoder):
    """OpenCV's FFmpeg backend: every frame is decoded (grab), only samples are converted."""

    name = "opencv"

    def samples(self, path, fps, report, keep, start_s, until):
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise InputError(f"{path}: cannot be opened")
        targets = _Targets(fps, start_s)
        container_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        seeked = start_s > SEEK_MARGIN_S
        if seeked:
            cap.set(cv2.CAP_PROP_POS_MSEC, (start_s - SEEK_MARGIN_S) * 1000.0)
        index = -1
        try:
            while True:
                if not cap.grab():
                    break  # end of stream, or damage: everything before it has been yielded
                # After a seek only the stream knows which frame this is.
                index = int(cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1 if seeked else index + 1
                t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if t <= 0 and index > 0 and 0 < container_fps <= MAX_SANE_FPS:
                    t = index / container_fps  # some containers give no per-frame timestamps
                report.frames_read = report.frames_decoded = index + 1
                report.last_time_s = t
                if until is not None and until(t):
                    report.stopped_early = True
                    break
                if not targets.hit(t) or (keep is not None and not keep(t)):
                    continue
                ok, image = cap.retrieve()
                if not ok or image is None:
                    report.damaged_frames += 1
                    continue  # a damaged frame: skip it, keep the readable rest
                yield Sample(index, round(t, 3), image)
        finally:
            cap.release()


class PyAVDecoder(Decoder):
    """PyAV (FFmpeg): frames no sample needs are skipped unless other frames reference them.

    A packet is held back until a packet with a decode timestamp at or past its presentation
    timestamp has been read; by then every frame shown before it is known, so whether it is the
    first frame at or after a sampling time (and its exact index) is known before it is decoded.
    Frames that are not are given to the decoder with skip_frame=NONREF. The pass ends at the
    first packet that cannot be read or decoded: after damage, containers without an index
    (AVI) resume with timestamps that no longer match the frames.
    """

    name = "pyav"

    def samples(self, path, fps, report, keep, start_s, until):
        try:
            import av
        except ImportError as e:  # pragma: no cover - av is a dependency
            raise ClusterpipeError(
                f"PyAV cannot be imported ({e}): run `pip install av`, or use --decoder opencv"
            ) from e
        try:
            container = av.open(path)
        except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: cannot be opened ({e})") from None
        with container:
            if not container.streams.video:
                raise InputError(f"{path}: has no video stream")
            yield from _PyAVPass(av, container, fps, report, keep, start_s, until).run()


# Clockwise quarter turns that bring a frame upright, by the display matrix's angle (phones
# record sideways and store the turn in the container); OpenCV applies the same turn.
_TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def _upright(frame) -> np.ndarray:
    """The frame as BGR, turned as its display matrix says."""
    image = frame.to_ndarray(format="bgr24")
    turn = _TURNS.get(round(-(getattr(frame, "rotation", 0) or 0)) % 360)
    return image if turn is None else cv2.rotate(image, turn)


MAX_HELD_BYTES = 64 << 20  # past this, held packets are decoded rather than held (memory bound)


class _PyAVPass:
    """One sampling pass over an open container (state of the look-ahead and the targets)."""

    def __init__(self, av, container, fps, report, keep, start_s, until) -> None:
        self.av, self.container, self.report = av, container, report
        self.keep, self.until, self.start_s = keep, until, start_s
        self.stream = st = container.streams.video[0]
        st.thread_type = "NONE"  # the encoders have the other cores; threads only add overhead
        self.ctx = st.codec_context
        self.tb, self.t0 = st.time_base, st.start_time or 0
        rate = st.average_rate or st.guessed_rate
        self.rate = float(rate) if rate and 0 < float(rate) <= MAX_SANE_FPS else 0.0
        self.fps, self.targets = fps, _Targets(fps, start_s)
        self.seeked = start_s > SEEK_MARGIN_S
        self.timeline = Timeline()
        # Ready packets no sample has needed yet: decoded once a sample after them is, dropped
        # undecoded at a barrier or at the end (no sample can depend on them).
        self.barrier = Barriers(self.ctx)
        self.held: deque = deque()
        self.held_bytes = 0
        self.out = -1  # frames output so far - 1 (the index when timestamps are missing)
        self.damaged = False

    def time(self, pts: int) -> float:
        return float((pts - self.t0) * self.tb)

    def run(self) -> Iterator[Sample]:
        demux, packet = self._start()
        pending: deque = deque()
        while True:
            if packet is not None:
                self.timeline.add(packet)
                pending.append(packet)
                dts = packet.dts if packet.dts is not None else packet.pts
                ready = []
                # Decode order must be kept: only a prefix of the held packets can go.
                while pending and (dts is None or pending[0].pts is None or dts >= pending[0].pts):
                    ready.append(pending.popleft())
            else:
                ready, pending = list(pending), deque()
            for p in ready:
                if (yield from self._emit(self._feed(p))) or self.damaged:
                    return
            if packet is None:
                self._drop()  # no sample follows them
                yield from self._emit(self._decode(None))  # the frames the decoder holds
                if not self.seeked:  # skipped frames were read too
                    self.report.frames_read = max(self.report.frames_read, self.timeline.count)
                last = self.timeline.last
                if last is not None:  # the frames dropped after the last sample were read
                    self.report.last_time_s = max(self.report.last_time_s, self.time(last))
                return
            self.timeline.fold(pending)
            packet = self._next(demux)

    def _start(self):
        """The demuxer and its first packet, sought (if asked) to a keyframe before start_s.

        Containers without an index (MPEG-TS) can land on a frame that is not a keyframe, and
        the decoder drops everything up to the next keyframe, samples included: seek further
        back until the first packet is a keyframe at or before start_s.
        """
        if not self.seeked:
            demux = self.container.demux(self.stream)
            return demux, self._next(demux)
        back = SEEK_MARGIN_S
        while True:
            at = max(0.0, self.start_s - back)
            self.container.seek(int(at / self.tb) + self.t0, stream=self.stream, backward=True)
            demux = self.container.demux(self.stream)
            first = self._next(demux)
            if first is None or (
                first.is_keyframe and first.pts is not None and self.time(first.pts) <= self.start_s
            ):
                return demux, first
            if at == 0.0:
                break
            log.debug("seek to %.1f s landed on a non-keyframe; seeking further back", at)
            back *= 4
        try:  # the first byte of the file is before every frame
            self.container.seek(0, unsupported_byte_offset=True)
        except self.av.FFmpegError:
            pass
        demux = self.container.demux(self.stream)
        return demux, self._next(demux)

    def _next(self, demux):
        """The next packet of the stream, or None at its end (or where it is unreadable)."""
        try:
            packet = next(demux)
        except StopIteration:
            return None
        except self.av.FFmpegError as e:
            log.debug("demuxing stopped: %s", e)
            self.report.damaged_frames += 1
            return None  # what was read before is decoded as at the end of the stream
        return None if packet.size == 0 else packet  # size 0: the demuxer's flush packet

    def _needed(self, pts: int) -> bool:
        """Whether the frame shown at pts is a sample: nothing shown before it covers its time."""
        t = self.time(pts)
        if t + SLACK_S < self.start_s - 1e-9:
            return False
        boundary = math.floor((t + SLACK_S) * self.fps) * self.targets.step
        previous = self.timeline.before(pts)
        if previous is not None and self.time(previous) + SLACK_S >= boundary:
            return False
        return self.keep is None or self.keep(t)

    def _feed(self, packet) -> list:
        """Take a ready packet; decode it and the held ones once a sample needs them."""
        needed = packet.pts is None or self._needed(packet.pts)
        index = None
        if packet.pts is not None and not self.seeked:
            index = self.timeline.position(packet.pts)
        if self.barrier(packet):
            self._drop()
        if needed or (self.until is not None and self.until(self.time(packet.pts))):
            frames = self._release(0)
            return frames if self.damaged else frames + self._decode(packet, index, needed)
        self.held.append((packet, index))
        self.held_bytes += packet.size
        return self._release(MAX_HELD_BYTES)

    def _release(self, keep_bytes: int) -> list:
        """Decode held packets, oldest first, until at most keep_bytes of them are held."""
        frames = []
        while self.held and self.held_bytes > keep_bytes and not self.damaged:
            packet, index = self.held.popleft()
            self.held_bytes -= packet.size
            frames += self._decode(packet, index, needed=False)
        return frames

    def _drop(self) -> None:
        """Forget the held packets undecoded: nothing after the barrier references them."""
        self.held.clear()
        self.held_bytes = 0

    def _decode(self, packet, index: int | None = None, needed: bool = True) -> list:
        try:
            if packet is not None:
                if index is not None:
                    self.timeline.decoding(packet.pts, index)
                self.ctx.skip_frame = "DEFAULT" if needed else "NONREF"
            return self.ctx.decode(packet)
        except self.av.FFmpegError as e:
            log.debug("a packet could not be decoded: %s", e)
            self.report.damaged_frames += 1
            self.damaged = True
            return []

    def _emit(self, frames: list) -> Generator[Sample, None, bool]:
        """Yield the samples among decoded frames; return True once `until` ends the pass."""
        for frame in frames:
            self.out += 1
            self.report.frames_decoded += 1
            if frame.pts is not None:
                t = self.time(frame.pts)
                if self.seeked:  # only the timestamp says which frame this is
                    index = round(t * self.rate) if self.rate else round(t * 1000)
                else:
                    index = self.timeline.index(frame.pts, self.out)
            else:
                index = self.out
                t = index / self.rate if self.rate else 0.0
            self.report.frames_read = index + 1
            self.report.last_time_s = t
            if self.until is not None and self.until(t):
                self.report.stopped_early = True
                return True
            if not self.targets.hit(t) or (self.keep is not None and not self.keep(t)):
                continue
            yield Sample(index, round(t, 3), _upright(frame))
        return False
