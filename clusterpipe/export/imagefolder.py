"""torchvision ImageFolder layout: <split>/<name>/*.jpg (or <name>/*.jpg without a split)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .base import Exporter, Item


class ImageFolderExporter(Exporter):
    name = "imagefolder"

    def write(self, dest: Path, items: list[Item], classes: list[str], splits: list[str]) -> None:
        for item in items:
            root = dest if splits == ["train"] else dest / item.split
            folder = root / classes[item.labels[0][0]]
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.image, folder / f"{item.face.id}{item.image.suffix}")
