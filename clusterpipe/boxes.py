"""Deprecated (kept for one release): moved to
clusterpipe.detect.boxes."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.detect.boxes")
