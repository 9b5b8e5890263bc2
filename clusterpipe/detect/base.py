"""Face detectors: the base class and registry, and what they return."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..config import EncodeSettings
from ..registry import Registered


@dataclass(frozen=True)
class Detections:
    """Faces of one image: boxes (n, 4) float x1, y1, x2, y2; scores (n,); landmarks (n, 5, 2)
    as x, y of left eye, right eye, nose, left and right mouth corner (in the image's pixels),
    or None for detectors that give none."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)))


class Detector(Registered, abc.ABC):
    """Base of face detectors: detect(rgb) -> Detections in that image's pixels."""

    registry: ClassVar[dict[str, type[Detector]]] = {}
    kind = "detector"

    def __init__(self, settings: EncodeSettings, folder: Path | None = None) -> None:
        self.settings = settings

    @abc.abstractmethod
    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces of an RGB uint8 image."""

    @classmethod
    def check_models(cls, folder: Path | None = None) -> None:
        """Raise ModelError if a model file this detector needs is missing or damaged."""
