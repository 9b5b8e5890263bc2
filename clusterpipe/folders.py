"""Deprecated (kept for one release): moved to
clusterpipe.store.folders."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.store.folders")
