"""Deprecated (kept for one release): moved to
clusterpipe.encode.facenet."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.encode.facenet")
