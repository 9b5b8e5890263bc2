"""torchvision ImageFolder layout: <split>/<name>/*.jpg, and classes.txt (index order)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2

from .aligned import align
from .base import Exporter, Item

log = logging.getLogger("clusterpipe")


def _chip(item: Item):
    """The aligned chip of an item's own face, from its crop and the detector's landmarks."""
    if item.face.landmarks is None:
        return None
    image = cv2.imread(str(item.image))
    if image is None:
        return None
    marks = [(x - item.origin[0], y - item.origin[1]) for x, y in item.face.landmarks]
    return align(image, marks)


class ImageFolderExporter(Exporter):
    name = "imagefolder"
    images = ("crops", "aligned")

    def write(self, dest: Path, items: list[Item], classes: list[str], splits: list[str]) -> None:
        skipped = 0
        for item in items:
            folder = dest / item.split / classes[item.labels[0][0]]
            folder.mkdir(parents=True, exist_ok=True)
            if self.image_kind == "aligned":
                chip = _chip(item)
                if chip is None:
                    skipped += 1
                    continue
                cv2.imwrite(str(folder / f"{item.face.id}.png"), chip)
            else:
                shutil.copyfile(item.image, folder / f"{item.face.id}{item.image.suffix}")
        if skipped:
            log.warning("%d faces have no landmarks (hog or cnn runs): no aligned chip", skipped)
        # Every class in every split, empty where it has no image: ImageFolder numbers the
        # folders it finds, so a class missing from val would shift every later index there.
        empty = []
        for split in splits:
            for name in classes:
                folder = dest / split / name
                if not folder.is_dir():
                    folder.mkdir(parents=True)
                    empty.append(f"{split}/{name}")
        if empty:
            log.warning(
                "no images in %s: load with ImageFolder(root, allow_empty=True) so that class "
                "indices agree with classes.txt",
                ", ".join(empty),
            )
        # ImageFolder sorts class folders, as `classes` is sorted: line k is class index k.
        (dest / "classes.txt").write_text("".join(f"{name}\n" for name in classes))
