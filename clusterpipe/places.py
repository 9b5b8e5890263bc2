"""Deprecated (kept for one release): moved to
clusterpipe.store.places."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.store.places")
