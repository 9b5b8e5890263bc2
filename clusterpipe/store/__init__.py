"""OUT on disk: file names, atomic writes, the lock, shards, records, run.json, folders."""

from __future__ import annotations

from .._moved import lazy

# What `clusterpipe.store` offers (its names from 0.2, when it was one module), loaded on use.
_NAMES = {
    "FACES_FILE": "clusterpipe.store.layout",
    "FILE_MODE": "clusterpipe.store.atomic",
    "LOCK_FILE": "clusterpipe.store.layout",
    "Lock": "clusterpipe.store.lock",
    "RUN_FILE": "clusterpipe.store.layout",
    "SHARDS_DIR": "clusterpipe.store.layout",
    "SIGNATURE_LEN": "clusterpipe.store.shards",
    "ShardStore": "clusterpipe.store.shards",
    "VECTORS_FILE": "clusterpipe.store.layout",
    "atomic_open": "clusterpipe.store.atomic",
    "read_faces": "clusterpipe.store.files",
    "read_json": "clusterpipe.store.atomic",
    "read_vectors": "clusterpipe.store.files",
    "write_faces": "clusterpipe.store.files",
    "write_json": "clusterpipe.store.atomic",
    "write_vectors": "clusterpipe.store.files",
}
__getattr__ = lazy(__name__, _NAMES)
__all__ = sorted(_NAMES)
