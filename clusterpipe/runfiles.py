"""Deprecated (kept for one release): moved to
clusterpipe.store.runinfo."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.store.runinfo", "clusterpipe.store.shards")
