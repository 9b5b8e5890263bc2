"""Deprecated (kept for one release): moved to
clusterpipe.people.repair."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.people.repair")
