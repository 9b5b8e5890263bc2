"""A FAISS gallery of named people: its store and index, promote and identify."""

from __future__ import annotations

from .._moved import lazy

# What `clusterpipe.gallery` offers (its names from 0.2, when it was one module), loaded on use.
_NAMES = {
    "DEFAULT_THRESHOLD": "clusterpipe.gallery.store",
    "DIM": "clusterpipe.gallery.store",
    "GALLERY_FORMAT": "clusterpipe.gallery.store",
    "Gallery": "clusterpipe.gallery.store",
    "LOCK_WAIT_S": "clusterpipe.gallery.store",
    "Match": "clusterpipe.gallery.store",
    "SIDECAR": "clusterpipe.gallery.store",
    "default_threshold": "clusterpipe.gallery.store",
    "encoder_dim": "clusterpipe.gallery.store",
    "locked": "clusterpipe.gallery.store",
}
__getattr__ = lazy(__name__, _NAMES)
__all__ = sorted(_NAMES)
