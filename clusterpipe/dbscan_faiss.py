"""Deprecated (kept for one release): moved to
clusterpipe.cluster.dbscan_faiss."""

from ._moved import moved

__getattr__ = moved(__name__, "clusterpipe.cluster.dbscan_faiss")
