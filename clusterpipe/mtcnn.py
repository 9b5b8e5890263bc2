"""Deprecated (kept for one release): moved to
clusterpipe.detect.base, clusterpipe.detect.mtcnn."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.detect.base", "clusterpipe.detect.mtcnn")
