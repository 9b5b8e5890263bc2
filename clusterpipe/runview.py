"""Deprecated (kept for one release): moved to
clusterpipe.people.runview."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.people.runview")
