"""Deprecated (kept for one release): moved to
clusterpipe.sample.packets."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.sample.packets")
