"""dlib's own face detectors: HOG and the MMOD CNN."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import EncodeSettings
from ..models import _dlib, model_path
from .base import Detections, Detector


def _from_rects(rects: list) -> Detections:
    boxes = np.array([(r.left(), r.top(), r.right(), r.bottom()) for r in rects], np.float64)
    n = len(rects)
    return Detections(boxes.reshape(n, 4), np.ones(n), None)


class HogDetector(Detector):
    """dlib's HOG + linear SVM frontal face detector (dlib-bin, Boost licence)."""

    name = "hog"

    def __init__(self, settings: EncodeSettings, folder: Path | None = None) -> None:
        super().__init__(settings, folder)
        self._det = _dlib().get_frontal_face_detector()

    def detect(self, rgb: np.ndarray) -> Detections:
        return _from_rects(list(self._det(rgb, self.settings.upsample)))


class CnnDetector(Detector):
    """dlib's MMOD CNN detector (more robust to pose, much slower on CPU)."""

    name = "cnn"

    def __init__(self, settings: EncodeSettings, folder: Path | None = None) -> None:
        super().__init__(settings, folder)
        self._det = _dlib().cnn_face_detection_model_v1(str(model_path("cnn", folder)))

    def detect(self, rgb: np.ndarray) -> Detections:
        return _from_rects([d.rect for d in self._det(rgb, self.settings.upsample)])

    @classmethod
    def check_models(cls, folder: Path | None = None) -> None:
        model_path("cnn", folder)
