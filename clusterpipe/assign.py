"""Deprecated (kept for one release): moved to
clusterpipe.cluster.clusterer."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.cluster.clusterer")
