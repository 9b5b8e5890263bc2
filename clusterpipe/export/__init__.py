"""Datasets for training from the named folders: YOLO, ImageFolder, COCO behind one registry."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

from ..boxes import portrait_box, yolo_line
from ..config import ExportSettings
from ..errors import ClusterpipeError, StoreError
from ..layout import CLUSTERS_DIR
from ..people import RunFolder
from ..records import Face
from ..runfiles import read_run_info
from . import coco, imagefolder, yolo
from .base import Exporter, Item
from .frames import frame_items
from .split import BLOCK_SECONDS, shot_starts, split_items

__all__ = [
    "BLOCK_SECONDS",
    "Exporter",
    "Item",
    "coco",
    "export",
    "imagefolder",
    "split_items",
    "yolo",
]

log = logging.getLogger("clusterpipe")

SPLITS = ("train", "val")


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
        items.append(Item(image, face, (w, h), tuple(labels), origin=(crop[0], crop[1])))
    items.sort(key=lambda i: i.face.id)
    return items, classes


def _cuts(out: Path) -> dict[str, list[int]] | None:
    """Where the run's shots start, or None where its shards are gone (then: time blocks)."""
    from ..tuning import load_samples

    try:
        samples = load_samples(out)
    except ClusterpipeError:
        return None
    return shot_starts(samples) if samples else None


def export(
    out: str | Path,
    dest: str | Path,
    fmt: str,
    val_fraction: float = ExportSettings.val_fraction,
    seed: int = ExportSettings.seed,
    min_faces: int = ExportSettings.min_faces,
    images: str = ExportSettings.images,
    single_class: bool = ExportSettings.single_class,
) -> dict:
    """Write the named folders of a run as a dataset in `fmt`; return counts per split, the
    val fraction reached and the people left out of val or dropped."""
    fmt_cls = Exporter.get(fmt)
    ExportSettings(val_fraction, images, single_class, min_faces, seed)  # checks every value
    if images not in fmt_cls.images:
        raise ClusterpipeError(
            f"--images {images} is not available for --format {fmt} "
            f"(it writes: {', '.join(fmt_cls.images)})"
        )
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StoreError(f"{dest}: exists and is not empty; choose a new folder")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Ours alone: a fresh, unpredictable name (never a sibling the user may own).
        stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    except OSError as e:
        raise StoreError(f"{dest}: export failed ({e.strerror or e})") from e
    try:
        return _export(
            out, dest, stage, fmt_cls, val_fraction, seed, min_faces, images, single_class
        )
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _export(out, dest, stage, fmt_cls, val_fraction, seed, min_faces, images, single_class):
    items, classes = collect(out)
    if images == "frames":
        items, classes = frame_items(RunFolder.load(out), classes, stage / ".frames", single_class)
    counts_by_person = Counter(i.labels[0][0] for i in items)
    few = sorted(classes[c] for c, n in counts_by_person.items() if n < min_faces)
    if few:
        keep = [c for c in range(len(classes)) if classes[c] not in few]
        remap = {c: k for k, c in enumerate(keep)}
        items = [
            replace(i, labels=tuple((remap[c], *b) for c, *b in i.labels if c in remap))
            for i in items
            if i.labels[0][0] in remap
        ]
        classes = [classes[c] for c in keep]
        if not classes:
            raise ClusterpipeError(f"no person has {min_faces} faces or more; lower --min-faces")
    items, report = split_items(items, val_fraction, seed, _cuts(Path(out)))
    # One layout whatever the split: train, and val when there is one.
    splits = [s for s in SPLITS if s == "train" or any(i.split == s for i in items)]
    try:
        fmt_cls(dest.resolve(), images).write(stage, items, classes, splits)
        shutil.rmtree(stage / ".frames", ignore_errors=True)
        if dest.exists():
            dest.rmdir()
        stage.rename(dest)
    except OSError as e:
        raise StoreError(f"{dest}: export failed ({e.strerror or e})") from e
    counts = {s: sum(i.split == s for i in items) for s in splits}
    return {
        "format": fmt_cls.name,
        "classes": classes,
        "images": counts,
        "dest": str(dest),
        "val_fraction": round(report.val_fraction, 3),
        "train_only": [classes[c] for c in report.train_only],
        "dropped_near_train": report.dropped_near,
        "too_few_faces": few,
    }
