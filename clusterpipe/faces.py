"""Face detection and 128-d dlib encodings, calling dlib directly.

face_recognition's api.py is a thin wrapper over these dlib calls; using dlib (from the
`dlib-bin` wheel) with the model files of `face_recognition_models` avoids both the dlib source
build that face_recognition declares and its models package's `pkg_resources` import, which
makes face_recognition `quit()` silently on setuptools >= 82. The maths below mirrors
face_recognition 1.3 (HOG/CNN detection, box trimmed to the image, 5-point landmarks, ResNet
descriptor), so encodings are the same.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from .config import EncodeSettings
from .errors import ModelError
from .registry import Registered

log = logging.getLogger("clusterpipe")

MODEL_FILES = {
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "encoder": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn": "mmod_human_face_detector.dat",
}


def model_dir() -> Path:
    """Folder of face_recognition_models' .dat files, found without importing the package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the face models are not installed: run `pip install face_recognition_models`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_path(name: str, folder: Path | None = None) -> Path:
    """Path of one model file; a clear error if it is missing."""
    path = (folder or model_dir()) / MODEL_FILES[name]
    if not path.is_file() or path.stat().st_size == 0:
        raise ModelError(
            f"face model file missing: {path}; reinstall it with "
            "`pip install --force-reinstall face_recognition_models`"
        )
    return path


def _dlib():
    try:
        import dlib
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ModelError(f"dlib cannot be imported ({e}): run `pip install dlib-bin`") from e
    return dlib


class Detector(Registered):
    """Base of face detectors: detect(rgb) -> dlib rectangles in that image's pixels."""

    registry: ClassVar[dict[str, type[Detector]]] = {}

    def __init__(self, upsample: int, folder: Path | None = None) -> None:
        self.upsample = upsample

    def detect(self, rgb: np.ndarray) -> list:
        raise NotImplementedError

    @staticmethod
    def create(name: str, upsample: int, folder: Path | None = None) -> Detector:
        """Build the detector registered under `name`."""
        try:
            return Detector.registry[name](upsample, folder)
        except KeyError:
            raise ModelError(
                f"unknown detector {name!r}; choose one of {', '.join(Detector.registry)}"
            ) from None


class HogDetector(Detector):
    """dlib's HOG + linear SVM frontal face detector (fast, CPU)."""

    name = "hog"

    def __init__(self, upsample: int, folder: Path | None = None) -> None:
        super().__init__(upsample, folder)
        self._det = _dlib().get_frontal_face_detector()

    def detect(self, rgb: np.ndarray) -> list:
        return list(self._det(rgb, self.upsample))


class CnnDetector(Detector):
    """dlib's MMOD CNN detector (more robust to pose, much slower on CPU)."""

    name = "cnn"

    def __init__(self, upsample: int, folder: Path | None = None) -> None:
        super().__init__(upsample, folder)
        self._det = _dlib().cnn_face_detection_model_v1(str(model_path("cnn", folder)))

    def detect(self, rgb: np.ndarray) -> list:
        return [d.rect for d in self._det(rgb, self.upsample)]


class FaceEncoder:
    """Detect faces in an RGB image and compute their 128-d encodings; load models once."""

    def __init__(self, settings: EncodeSettings, folder: Path | None = None) -> None:
        dlib = _dlib()
        self._dlib = dlib
        self.detector = Detector.create(settings.detector, settings.upsample, folder)
        try:
            self._landmarks = dlib.shape_predictor(str(model_path("landmarks5", folder)))
            self._encoder = dlib.face_recognition_model_v1(str(model_path("encoder", folder)))
        except RuntimeError as e:
            raise ModelError(
                f"a face model could not be loaded ({e}); reinstall face_recognition_models"
            ) from e

    def locate(self, rgb: np.ndarray) -> np.ndarray:
        """Face boxes (n, 4) as int x1, y1, x2, y2, trimmed to the image like face_recognition."""
        h, w = rgb.shape[:2]
        boxes = [
            (max(r.left(), 0), max(r.top(), 0), min(r.right(), w), min(r.bottom(), h))
            for r in self.detector.detect(rgb)
        ]
        boxes = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
        # Left-to-right, top-to-bottom order makes face ids stable across runs.
        boxes.sort(key=lambda b: (b[0], b[1]))
        return np.array(boxes, dtype=np.int64).reshape(-1, 4)

    def encode(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """128-d encodings (n, 128) float32 of the given boxes, all in one dlib call."""
        if len(boxes) == 0:
            return np.zeros((0, 128), dtype=np.float32)
        shapes = self._dlib.full_object_detections()
        for x1, y1, x2, y2 in boxes:
            rect = self._dlib.rectangle(int(x1), int(y1), int(x2), int(y2))
            shapes.append(self._landmarks(rgb, rect))
        descs = self._encoder.compute_face_descriptor(np.ascontiguousarray(rgb), shapes, 1)
        return np.array([np.array(d) for d in descs], dtype=np.float32)

    def encode_bgr(self, bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Encodings (n, 128) of boxes in a BGR image, each from a region around its face."""
        if len(boxes) == 0:
            return np.zeros((0, 128), dtype=np.float32)
        h, w = bgr.shape[:2]
        chips = []
        for x1, y1, x2, y2 in np.asarray(boxes).tolist():
            # The aligned chip (box plus 25 % padding, rotated upright) stays well inside a
            # margin of one face size, so the region gives the same chip as the whole frame.
            m = max(x2 - x1, y2 - y1)
            rx, ry = max(0, x1 - m), max(0, y1 - m)
            region = cv2.cvtColor(bgr[ry : min(h, y2 + m), rx : min(w, x2 + m)], cv2.COLOR_BGR2RGB)
            rect = self._dlib.rectangle(x1 - rx, y1 - ry, x2 - rx, y2 - ry)
            chips.append(self._dlib.get_face_chip(region, self._landmarks(region, rect), 150, 0.25))
        descs = self._encoder.compute_face_descriptor(chips, 1)
        return np.array([np.array(d) for d in descs], dtype=np.float32)

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes and encodings of every face in an RGB image."""
        boxes = self.locate(rgb)
        return boxes, self.encode(rgb, boxes)
