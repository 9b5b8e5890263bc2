"""dlib's 128-d face encodings, with the detector the settings name; models checked up front."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..config import EncodeSettings
from ..detect.base import Detections, Detector
from ..errors import ModelError
from ..models import _dlib, model_path
from .base import Encoder

log = logging.getLogger("clusterpipe")


# dlib's HOG box around a face is a square about 2.29 eye-to-mouth distances wide, centred
# between the eyes and the mouth (median over 68 dev photos with both detectors; spread 0.21).
# dlib's landmark model was trained on such boxes: started from MTCNN's own (taller) boxes it
# places the points worse, and dev_hard's e2e BCubed F1 falls from 0.913 to 0.860.
DLIB_BOX_SIDE = 2.29


def dlib_box(landmarks: Sequence[Sequence[float]]) -> tuple[int, int, int, int]:
    """The box dlib's detector would draw around a face with these 5 MTCNN landmarks."""
    m = np.asarray(landmarks, dtype=np.float64)
    eyes, mouth = m[:2].mean(axis=0), m[3:].mean(axis=0)
    cx, cy = (eyes + mouth) / 2
    half = DLIB_BOX_SIDE * float(np.linalg.norm(mouth - eyes)) / 2
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


def check_models(settings: EncodeSettings, folder: Path | None = None) -> None:
    """Fail in the calling process, before any worker starts, if a model the settings need is
    missing or damaged (a one-line ModelError that says how to reinstall it)."""
    for name in ("landmarks5", "encoder"):
        model_path(name, folder)
    Detector.get(settings.detector).check_models(folder)
    if settings.encoder != "dlib":
        Encoder.get(settings.encoder).check_models()


class FaceEncoder:
    """Detect faces in an RGB image and compute their 128-d encodings; load models once."""

    def __init__(self, settings: EncodeSettings, folder: Path | None = None) -> None:
        dlib = _dlib()
        self._dlib = dlib
        self.detector = Detector.get(settings.detector)(settings, folder)
        # The extra person space, if any (dlib's encoding is always computed).
        self.extra = None if settings.encoder == "dlib" else Encoder.get(settings.encoder)()
        try:
            self._landmarks = dlib.shape_predictor(str(model_path("landmarks5", folder)))
            self._encoder = dlib.face_recognition_model_v1(str(model_path("encoder", folder)))
        except RuntimeError as e:
            raise ModelError(
                f"a face model could not be loaded ({e}); reinstall face_recognition_models"
            ) from e

    def locate(self, rgb: np.ndarray) -> Detections:
        """Faces with integer boxes x1, y1, x2, y2 trimmed to the image (as face_recognition),
        left to right; landmarks and scores as the detector gives them."""
        h, w = rgb.shape[:2]
        det = self.detector.detect(rgb)
        b = np.round(det.boxes).astype(np.int64).reshape(-1, 4)
        b = np.stack(
            [
                np.maximum(b[:, 0], 0),
                np.maximum(b[:, 1], 0),
                np.minimum(b[:, 2], w),
                np.minimum(b[:, 3], h),
            ],
            axis=1,
        )
        ok = np.nonzero((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]))[0]
        # Left-to-right, top-to-bottom order makes face ids stable across runs.
        order = ok[np.lexsort((b[ok, 1], b[ok, 0]))]
        marks = None if det.landmarks is None else det.landmarks[order]
        return Detections(b[order], det.scores[order], marks)

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

    def encode_bgr(
        self, bgr: np.ndarray, boxes: np.ndarray, landmarks: list | None = None
    ) -> np.ndarray:
        """Encodings (n, 128) of boxes in a BGR image, each from a region around its face.

        Where a face has detector landmarks, dlib's landmark model starts from the box dlib's
        own detector would have drawn around them (see dlib_box)."""
        if len(boxes) == 0:
            return np.zeros((0, 128), dtype=np.float32)
        h, w = bgr.shape[:2]
        chips = []
        marks = landmarks if landmarks is not None else [None] * len(boxes)
        for box, m in zip(np.asarray(boxes).tolist(), marks):
            x1, y1, x2, y2 = box if m is None else dlib_box(m)
            # The aligned chip (box plus 25 % padding, rotated upright) stays well inside a
            # margin of one face size, so the region gives the same chip as the whole frame.
            s = max(x2 - x1, y2 - y1)
            rx, ry = max(0, x1 - s), max(0, y1 - s)
            region = cv2.cvtColor(bgr[ry : min(h, y2 + s), rx : min(w, x2 + s)], cv2.COLOR_BGR2RGB)
            rect = self._dlib.rectangle(x1 - rx, y1 - ry, x2 - rx, y2 - ry)
            chips.append(self._dlib.get_face_chip(region, self._landmarks(region, rect), 150, 0.25))
        descs = self._encoder.compute_face_descriptor(chips, 1)
        return np.array([np.array(d) for d in descs], dtype=np.float32)

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes and encodings of every face in an RGB image."""
        boxes = self.locate(rgb).boxes
        return boxes, self.encode(rgb, boxes)
