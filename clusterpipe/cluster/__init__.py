"""Clustering faces into people: tracks, the person space, DBSCAN and its splits."""

from __future__ import annotations

from .._moved import lazy

# What `clusterpipe.cluster` offers (its names from 0.2, when it was one module), loaded on use.
_NAMES = {
    "CLUSTER_MODULES": "clusterpipe.cluster.dbscan",
    "FAISS_DBSCAN_MIN": "clusterpipe.cluster.dbscan",
    "SAME_FRAME_TOLERANCE": "clusterpipe.cluster.dbscan",
    "TRACK_SPLIT_MARGIN": "clusterpipe.cluster.dbscan",
    "TRACK_SPLIT_MIN_TRACKS": "clusterpipe.cluster.dbscan",
    "cannot_links": "clusterpipe.cluster.dbscan",
    "cluster_faces": "clusterpipe.cluster.dbscan",
    "dbscan": "clusterpipe.cluster.dbscan",
    "merge_by_tracks": "clusterpipe.cluster.dbscan",
    "nearest_clusters": "clusterpipe.cluster.dbscan",
    "positions": "clusterpipe.cluster.dbscan",
    "relabel_by_size": "clusterpipe.cluster.dbscan",
    "reunite_tracks": "clusterpipe.cluster.dbscan",
    "split_by_cannot_links": "clusterpipe.cluster.dbscan",
    "split_by_tracks": "clusterpipe.cluster.dbscan",
    "split_clusters": "clusterpipe.cluster.dbscan",
}
__getattr__ = lazy(__name__, _NAMES)
__all__ = sorted(_NAMES)
