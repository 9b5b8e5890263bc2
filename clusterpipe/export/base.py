"""What every dataset format is given (Item) and implements (Exporter)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..registry import Registered
from ..store.records import Face


@dataclass(frozen=True)
class Item:
    """One crop of a named person, with every named face inside it in crop pixels."""

    image: Path
    face: Face
    size: tuple[int, int]  # crop width, height
    labels: tuple[tuple[int, float, float, float, float], ...]  # class, x1, y1, x2, y2
    split: str = "train"
    origin: tuple[int, int] = (0, 0)  # the crop's top-left corner in the original frame


class Exporter(Registered, abc.ABC):
    """Base of dataset formats; subclasses register under `name`."""

    registry: ClassVar[dict[str, type[Exporter]]] = {}
    kind = "format"

    # Which images a format can write: the portrait crops, or face chips aligned by landmarks.
    images: ClassVar[tuple[str, ...]] = ("crops",)

    def __init__(self, root: Path, images: str = "crops") -> None:
        self.root = root  # where the dataset will live once written (absolute)
        self.image_kind = images

    @abc.abstractmethod
    def write(self, dest: Path, items: list[Item], classes: list[str], splits: list[str]) -> None:
        """Write the dataset into `dest` (a staging folder renamed to `root` afterwards)."""
