"""Scores against ground truth: BCubed F1 and detection recall, and the settings sweep."""

from __future__ import annotations

from .._moved import lazy

# What `clusterpipe.evaluate` offers (its names from 0.2, when it was one module), loaded on use.
_NAMES = {
    "MATCH_IOU": "clusterpipe.evaluate.metrics",
    "clustering_scores": "clusterpipe.evaluate.metrics",
    "evaluate": "clusterpipe.evaluate.metrics",
    "load_ground_truth": "clusterpipe.evaluate.metrics",
    "match_boxes": "clusterpipe.evaluate.metrics",
}
__getattr__ = lazy(__name__, _NAMES)
__all__ = sorted(_NAMES)
