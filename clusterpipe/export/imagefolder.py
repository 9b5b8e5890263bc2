"""torchvision ImageFolder layout: <split>/<name>/*.jpg, and classes.txt (index order)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .base import Exporter, Item


class ImageFolderExporter(Exporter):
    name = "imagefolder"

    def write(self, dest: Path, items: list[Item], classes: list[str], splits: list[str]) -> None:
        for item in items:
            folder = dest / item.split / classes[item.labels[0][0]]
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.image, folder / f"{item.face.id}{item.image.suffix}")
        # ImageFolder sorts class folders, as `classes` is sorted: line k is class index k.
        (dest / "classes.txt").write_text("".join(f"{name}\n" for name in classes))
