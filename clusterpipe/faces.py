"""Deprecated (kept for one release): moved to
clusterpipe.detect (base, dlib, mtcnn), clusterpipe.models and clusterpipe.encode.dlib."""

from ._moved import moved

__getattr__ = moved(
    __name__,
    "clusterpipe.detect.base",
    "clusterpipe.detect.dlib",
    "clusterpipe.detect.mtcnn",
    "clusterpipe.models",
    "clusterpipe.encode.dlib",
)
