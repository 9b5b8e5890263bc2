"""Deprecated (kept for one release): moved to
clusterpipe.encode.base."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.encode.base")
