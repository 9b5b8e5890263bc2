"""The engine interface: run the detect+encode stage, one shard per segment."""

from __future__ import annotations

import abc
from typing import ClassVar

from ..config import EncodeSettings
from ..pipeline import EncodeStats, Job
from ..registry import Registered
from ..store import ShardStore


class Engine(Registered, abc.ABC):
    """Base of engines: encode(jobs) writes one shard per segment into the store."""

    registry: ClassVar[dict[str, type[Engine]]] = {}
    kind = "engine"

    def __init__(
        self,
        workers: int,
        segment_seconds: float,
        progress: bool = True,
        address: str | None = None,
    ) -> None:
        self.workers, self.segment_seconds = workers, segment_seconds
        self.progress, self.address = progress, address

    @abc.abstractmethod
    def encode(self, jobs: list[Job], enc: EncodeSettings, store: ShardStore) -> EncodeStats:
        """Encode every job's unfinished segments; return what was done."""
