"""Face detection: a detector registry (dlib HOG/CNN, MTCNN) and face box geometry."""

from . import dlib, mtcnn  # noqa: F401 (each backend registers its detectors on import)
from .base import Detections, Detector

__all__ = ["Detections", "Detector"]
