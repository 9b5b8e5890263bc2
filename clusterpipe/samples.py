"""Deprecated (kept for one release): moved to
clusterpipe.sample.samples."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.sample.samples", "clusterpipe.store.shards")
