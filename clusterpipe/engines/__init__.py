"""Engines run the detect+encode stage; clustering and generation are the same for all.

`local` (processes on this machine, the default) and `dask` (Dask distributed); importing the
package registers both (Dask itself is imported only when that engine runs).
"""

from __future__ import annotations

from ..store.shards import segment_of
from . import dask_engine, local
from .base import EncodeStats, Engine, Job

__all__ = ["EncodeStats", "Engine", "Job", "dask_engine", "local", "segment_of"]
