"""The default engine: one machine, staged processes over multiprocessing queues."""

from __future__ import annotations

from ..config import EncodeSettings
from ..pipeline import EncodeStats, Job, encode_videos
from ..store import ShardStore
from .base import Engine


class LocalEngine(Engine):
    name = "local"

    def encode(self, jobs: list[Job], enc: EncodeSettings, store: ShardStore) -> EncodeStats:
        return encode_videos(jobs, enc, store, self.workers, self.segment_seconds, self.progress)
