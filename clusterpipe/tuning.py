"""Deprecated (kept for one release): moved to
clusterpipe.store.shards, clusterpipe.evaluate.tune."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.store.shards", "clusterpipe.evaluate.tune")
