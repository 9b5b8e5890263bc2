"""Deprecated (kept for one release): moved to
clusterpipe.gallery.index."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.gallery.index")
