"""The human loop on files: status of the folders, the repair loop, suggestions."""

from __future__ import annotations

from .._moved import lazy

# What `clusterpipe.people` offers (its names from 0.2, when it was one module), loaded on use.
_NAMES = {
    "GalleryInfo": "clusterpipe.gallery.promote",
    "IMAGE_INPUTS": "clusterpipe.gallery.identify",
    "MAX_IMAGE_PIXELS": "clusterpipe.gallery.identify",
    "PromoteResult": "clusterpipe.gallery.promote",
    "RunFolder": "clusterpipe.people.status",
    "Status": "clusterpipe.people.status",
    "gallery_info": "clusterpipe.gallery.promote",
    "gallery_settings": "clusterpipe.gallery.promote",
    "identify": "clusterpipe.gallery.identify",
    "list_people": "clusterpipe.gallery.promote",
    "name_clusters": "clusterpipe.gallery.identify",
    "promote": "clusterpipe.gallery.promote",
    "remove_person": "clusterpipe.gallery.promote",
    "status": "clusterpipe.people.status",
}
__getattr__ = lazy(__name__, _NAMES)
__all__ = sorted(_NAMES)
