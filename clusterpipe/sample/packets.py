"""What a PyAV sampling pass knows of the packets it reads (decoders.py): where decoding can
restart without any earlier frame (barriers), and the timeline of presentation timestamps."""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Iterator
from typing import Any

# NAL unit types after which no frame references an earlier one: H.264 IDR; HEVC IDR_W_RADL and
# IDR_N_LP (a CRA is not one: its RASL pictures reference the previous group).
_IDR_NAL = {"h264": (lambda b: b & 0x1F, {5}), "hevc": (lambda b: (b >> 1) & 0x3F, {19, 20})}
# Codecs whose keyframes refresh every reference slot.
_KEYFRAME_RESETS = {"vp8", "vp9"}


def _nal_headers(data: bytes, length_size: int | None) -> Iterator[int]:
    """First header byte of each NAL unit of an Annex B or length-prefixed (avcC/hvcC) packet."""
    if length_size is None or data[:3] == b"\x00\x00\x01" or data[:4] == b"\x00\x00\x00\x01":
        i = data.find(b"\x00\x00\x01")
        while 0 <= i < len(data) - 3:
            yield data[i + 3]
            i = data.find(b"\x00\x00\x01", i + 3)
        return
    i = 0
    while i + length_size < len(data):
        n = int.from_bytes(data[i : i + length_size], "big")
        yield data[i + length_size]
        i += length_size + max(n, 1)


class Barriers:
    """Tells which packets start a closed group: no frame after it references one before it.

    Reference frames after the last sample of a group are then never needed: nothing that a
    later sample depends on can reach back past the barrier. Codecs not known here have none.
    """

    def __init__(self, ctx) -> None:
        self.name = ctx.codec.name
        self.intra_only = bool(getattr(ctx.codec, "intra_only", False))
        extra = bytes(ctx.extradata or b"")
        self.length_size = None  # Annex B (MPEG-TS) unless the extradata is avcC / hvcC
        if extra[:1] == b"\x01":
            at = {"h264": 4, "hevc": 21}.get(self.name)
            if at is not None and len(extra) > at:
                self.length_size = (extra[at] & 3) + 1

    def __call__(self, packet) -> bool:
        if self.intra_only:
            return True
        if not packet.is_keyframe:
            return False
        if self.name in _KEYFRAME_RESETS:
            return True
        if self.name not in _IDR_NAL:
            return False
        kind, idr = _IDR_NAL[self.name]
        try:
            return any(kind(b) in idr for b in _nal_headers(bytes(packet), self.length_size))
        except IndexError:  # a malformed packet: not trusted as a barrier
            return False


class Timeline:
    """The presentation timestamps a pass has read, in order: which frame index a timestamp is
    and what was shown before it. The oldest are folded into a count (bounded memory)."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.folded, self.folded_max = 0, None
        self.index_of: list[tuple[int, int]] = []  # heap of (pts, frame index) being decoded
        self.last_dts = None

    def add(self, packet: Any) -> None:
        if packet.pts is not None:
            bisect.insort(self.seen, packet.pts)
        dts = packet.dts if packet.dts is not None else packet.pts
        self.last_dts = dts if dts is not None else self.last_dts

    def position(self, pts: int) -> int:
        """Index of the frame shown at pts among every frame read (before any seek)."""
        return self.folded + bisect.bisect_left(self.seen, pts)

    def before(self, pts: int) -> int | None:
        """The timestamp shown just before pts, if any."""
        i = bisect.bisect_left(self.seen, pts)
        return self.seen[i - 1] if i else self.folded_max

    @property
    def count(self) -> int:
        return self.folded + len(self.seen)

    @property
    def last(self) -> int | None:
        return self.seen[-1] if self.seen else self.folded_max

    def decoding(self, pts: int, index: int) -> None:
        heapq.heappush(self.index_of, (pts, index))

    def index(self, pts: int, default: int) -> int:
        """Index of the decoded frame shown at pts; frames shown before it were skipped."""
        heap = self.index_of
        while heap and heap[0][0] < pts:
            heapq.heappop(heap)
        if heap and heap[0][0] == pts:
            return heapq.heappop(heap)[1]
        return default

    def fold(self, pending: deque) -> None:
        """Fold timestamps no held or future packet can precede into the count."""
        if len(self.seen) <= 512 or self.last_dts is None:
            return
        floor = min([p.dts for p in pending if p.dts is not None] + [self.last_dts])
        j = bisect.bisect_left(self.seen, floor)
        if j:
            self.folded += j
            self.folded_max = self.seen[j - 1]
            del self.seen[:j]
