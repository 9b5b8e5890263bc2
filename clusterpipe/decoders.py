"""Deprecated (kept for one release): moved to
clusterpipe.sample.decoders."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.sample.decoders")
