"""Face encodings: dlib (always) and extra person spaces (FaceNet), per frame."""

from __future__ import annotations

from .._moved import lazy

# What `clusterpipe.encode` offers (its names from 0.2, when it was one module), loaded on use.
_NAMES = {
    "FINE_MIN_GAIN": "clusterpipe.encode.frame",
    "FrameFaces": "clusterpipe.encode.frame",
    "FrameResult": "clusterpipe.encode.frame",
    "detect_and_encode": "clusterpipe.encode.frame",
    "process_frame": "clusterpipe.encode.frame",
}
__getattr__ = lazy(__name__, _NAMES)
__all__ = sorted(_NAMES)
