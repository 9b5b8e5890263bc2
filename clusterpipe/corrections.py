"""Deprecated (kept for one release): moved to
clusterpipe.store.corrections."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.store.corrections")
