"""Datasets for training from the named folders: YOLO, ImageFolder, COCO behind one registry."""

from __future__ import annotations

import logging
import random
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

from ..boxes import portrait_box, yolo_line
from ..errors import ClusterpipeError, StoreError
from ..layout import CLUSTERS_DIR
from ..people import RunFolder
from ..records import Face
from ..runfiles import read_run_info
from . import coco, imagefolder, yolo
from .base import Exporter, Item

__all__ = ["Exporter", "Item", "coco", "export", "imagefolder", "yolo"]

log = logging.getLogger("clusterpipe")

BLOCK_SECONDS = 10.0  # train/val split unit: near-identical neighbouring frames stay together
SPLITS = ("train", "val")


def block_split(items: list[Item], val_fraction: float, seed: int) -> list[Item]:
    """Assign whole time blocks of each video to val, so near-duplicates never straddle."""
    if val_fraction <= 0:
        return items
    blocks = sorted({(i.face.video, int(i.face.time_s // BLOCK_SECONDS)) for i in items})
    rng = random.Random(seed)
    rng.shuffle(blocks)
    n_val = min(len(blocks) - 1, max(1, round(val_fraction * len(blocks))))
    val = set(blocks[:n_val])
    # Every person with two or more blocks gets at least one in val (same classes both sides).
    person_blocks: dict[int, set] = defaultdict(set)
    for i in items:
        person_blocks[i.labels[0][0]].add((i.face.video, int(i.face.time_s // BLOCK_SECONDS)))
    for _, bl in sorted(person_blocks.items()):
        if len(bl) >= 2 and not bl & val:
            val.add(sorted(bl)[rng.randrange(len(bl))])
        elif len(bl) >= 2 and bl <= val:
            val.discard(sorted(bl)[0])
    return [
        Item(
            i.image,
            i.face,
            i.size,
            i.labels,
            "val" if (i.face.video, int(i.face.time_s // BLOCK_SECONDS)) in val else "train",
        )
        for i in items
    ]


def collect(out: str | Path) -> tuple[list[Item], list[str]]:
    """Items of every named folder of a run, and the class names (sorted)."""
    import cv2

    run = RunFolder.load(out)
    if run.tree.bad_names:
        name, why = next(iter(run.tree.bad_names.items()))
        raise ClusterpipeError(f"{run.out}: rename folder {name!r} first: {why}")
    classes = sorted({f.person for f in run.tree.named if f.face_ids})
    if not classes:
        raise ClusterpipeError(
            f"{run.out}: no named folders; rename clusters/Face_<k> folders to people's names first"
        )
    cls_of = {name: k for k, name in enumerate(classes)}
    person = {f.id: name for name, f in run.named_faces()}
    folder_of = {fid: f.name for f in run.tree.named for fid in f.face_ids}
    sizes = {v["path"]: (v["width"], v["height"]) for v in read_run_info(run.out).get("inputs", [])}
    by_frame: dict[tuple[str, int], list[Face]] = defaultdict(list)
    for f in run.faces.values():
        by_frame[(f.video, f.frame_index)].append(f)
    items = []
    for fid in person:
        face = run.faces[fid]
        image = run.out / CLUSTERS_DIR / folder_of[fid] / f"{fid}.jpg"
        if not image.is_file():
            image = image.with_suffix(".png")
        frame_size = sizes.get(face.video)
        img = cv2.imread(str(image))
        if img is None or frame_size is None:
            log.warning("%s: unreadable crop, left out", image)
            continue
        crop = portrait_box(face.box, *frame_size)
        h, w = img.shape[:2]
        if (w, h) != (crop[2] - crop[0], crop[3] - crop[1]):
            log.warning("%s: crop was edited (size changed), left out", image)
            continue
        labels = []
        for other in [face] + [
            o for o in by_frame[(face.video, face.frame_index)] if o is not face
        ]:
            if other.id not in person or yolo_line(other.box, crop) is None:
                continue
            x1, y1 = max(other.box[0], crop[0]) - crop[0], max(other.box[1], crop[1]) - crop[1]
            x2, y2 = min(other.box[2], crop[2]) - crop[0], min(other.box[3], crop[3]) - crop[1]
            labels.append((cls_of[person[other.id]], float(x1), float(y1), float(x2), float(y2)))
        items.append(Item(image, face, (w, h), tuple(labels)))
    items.sort(key=lambda i: i.face.id)
    return items, classes


def export(
    out: str | Path, dest: str | Path, fmt: str, val_fraction: float = 0.2, seed: int = 0
) -> dict:
    """Write the named folders of a run as a dataset in `fmt`; return counts per split."""
    fmt_cls = Exporter.get(fmt)
    if not 0 <= val_fraction < 1:
        raise ClusterpipeError("--val-fraction must be in [0, 1)")
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StoreError(f"{dest}: exists and is not empty; choose a new folder")
    items, classes = collect(out)
    items = block_split(items, val_fraction, seed)
    splits = [s for s in SPLITS if any(i.split == s for i in items)]
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Ours alone: a fresh, unpredictable name (never a sibling the user may own).
        stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    except OSError as e:
        raise StoreError(f"{dest}: export failed ({e.strerror or e})") from e
    try:
        fmt_cls(dest.resolve()).write(stage, items, classes, splits)
        if dest.exists():
            dest.rmdir()
        stage.rename(dest)
    except OSError as e:
        shutil.rmtree(stage, ignore_errors=True)
        raise StoreError(f"{dest}: export failed ({e.strerror or e})") from e
    counts = {s: sum(i.split == s for i in items) for s in splits}
    return {"format": fmt, "classes": classes, "images": counts, "dest": str(dest)}
