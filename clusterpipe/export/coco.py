"""COCO detection JSON: images/<split>/*.jpg and annotations/instances_<split>.json."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

from .base import Exporter, Item


class CocoExporter(Exporter):
    name = "coco"
    images = ("crops", "frames")

    def write(self, dest: Path, items: list[Item], classes: list[str], splits: list[str]) -> None:
        categories = [
            {"id": k + 1, "name": n, "supercategory": "person"} for k, n in enumerate(classes)
        ]
        (dest / "annotations").mkdir(parents=True)
        ann_id = image_id = 1  # unique across splits: the splits can be merged as they are
        for split in splits:
            images, annotations = [], []
            folder = dest / "images" / split
            folder.mkdir(parents=True)
            for item in (i for i in items if i.split == split):
                file_name = f"{item.face.id}{item.image.suffix}"
                shutil.copyfile(item.image, folder / file_name)
                w, h = item.size
                images.append(
                    {"id": image_id, "file_name": file_name, "width": w, "height": h, "license": 1}
                )
                for c, x1, y1, x2, y2 in item.labels:
                    bw, bh = x2 - x1, y2 - y1
                    annotations.append(
                        {
                            "id": ann_id,
                            "image_id": image_id,
                            "category_id": c + 1,
                            "bbox": [round(x1, 2), round(y1, 2), round(bw, 2), round(bh, 2)],
                            # The box as a polygon: tools that ask for masks (annToMask)
                            # get the box, not a KeyError.
                            "segmentation": [
                                [round(v, 2) for v in (x1, y1, x2, y1, x2, y2, x1, y2)]
                            ],
                            "area": round(bw * bh, 2),
                            "iscrowd": 0,
                        }
                    )
                    ann_id += 1
                image_id += 1
            data = {
                "info": {
                    "description": "clusterpipe export: faces of named people (see README.md)",
                    "version": "1.0",
                    "year": datetime.date.today().year,
                    "contributor": "clusterpipe",
                    "date_created": datetime.date.today().isoformat(),
                    "url": "",
                },
                # The footage's own licence, which clusterpipe cannot know: state it here.
                "licenses": [{"id": 1, "name": "as the source footage", "url": ""}],
                "images": images,
                "annotations": annotations,
                "categories": categories,
            }
            (dest / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
