"""Ultralytics YOLO layout: images/{train,val}, labels/{train,val}, data.yaml."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .base import Exporter, Item


class YoloExporter(Exporter):
    name = "yolo"
    images = ("crops", "frames")

    def write(self, dest: Path, items: list[Item], classes: list[str], splits: list[str]) -> None:
        for item in items:
            images, labels = dest / "images" / item.split, dest / "labels" / item.split
            images.mkdir(parents=True, exist_ok=True)
            labels.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.image, images / f"{item.face.id}{item.image.suffix}")
            w, h = item.size
            lines = [
                f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
                for c, x1, y1, x2, y2 in item.labels
            ]
            # A background image (no face) gets an empty label file, as Ultralytics expects.
            (labels / f"{item.face.id}.txt").write_text("".join(f"{x}\n" for x in lines))
        val = "val" if "val" in splits else "train"
        # JSON strings are valid YAML scalars: names with quotes or colons stay safe. No `path`:
        # Ultralytics then resolves train/val beside data.yaml, so a moved dataset still works.
        names = "\n".join(f"  {k}: {json.dumps(n)}" for k, n in enumerate(classes))
        (dest / "images" / "train").mkdir(parents=True, exist_ok=True)
        (dest / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (dest / "data.yaml").write_text(
            f"train: images/train\nval: images/{val}\nnc: {len(classes)}\nnames:\n{names}\n"
        )
        # Label Studio's YOLO importer reads the class names from classes.txt at the root.
        (dest / "classes.txt").write_text("".join(f"{n}\n" for n in classes))
