"""Engines run the detect+encode stage; clustering and generation are the same for all."""

from __future__ import annotations

from typing import ClassVar

from ..config import EncodeSettings
from ..errors import ClusterpipeError
from ..pipeline import EncodeStats, Job
from ..registry import Registered
from ..store import ShardStore


class Engine(Registered):
    """Base of engines: encode(jobs) writes one shard per segment into the store."""

    registry: ClassVar[dict[str, type[Engine]]] = {}

    def __init__(
        self,
        workers: int,
        segment_seconds: float,
        progress: bool = True,
        address: str | None = None,
    ) -> None:
        self.workers, self.segment_seconds = workers, segment_seconds
        self.progress, self.address = progress, address

    def encode(self, jobs: list[Job], enc: EncodeSettings, store: ShardStore) -> EncodeStats:
        raise NotImplementedError

    @staticmethod
    def create(name: str, **kw) -> Engine:
        """The engine registered under `name`."""
        from . import dask_engine, local  # noqa: F401 - register the engines

        if name not in Engine.registry:
            raise ClusterpipeError(f"unknown engine {name!r}; choose {', '.join(Engine.registry)}")
        return Engine.registry[name](**kw)
