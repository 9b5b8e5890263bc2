"""Datasets for training from the named folders: YOLO, ImageFolder, COCO behind one registry."""

from __future__ import annotations

import logging
import shutil
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .._moved import DictAccess
from ..config import ExportSettings
from ..detect.boxes import portrait_box, yolo_line
from ..errors import ClusterpipeError, StoreError
from ..people.status import RunFolder
from ..store.folders import bad_folder_error, check_outside_run
from ..store.outdir import OutDir
from ..store.records import Face
from ..store.runinfo import read_run_info
from ..store.writing import refuse_if_interrupted
from . import coco, imagefolder, yolo
from .base import Exporter, Item
from .card import Card
from .dedup import near_pairs, thumbnails
from .frames import FACE_CLASS, frame_items
from .split import BLOCK_SECONDS, shot_starts, split_items
from .stage import seal, staged

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


def named_classes(run: RunFolder) -> list[str]:
    """The class names of a run (its named folders, sorted), or why there are none."""
    if run.tree.bad_names:
        raise bad_folder_error(run.out, run.tree.bad_names)
    classes = sorted({f.person for f in run.tree.named if f.face_ids})
    if not classes:
        raise ClusterpipeError(
            f"{run.out}: no named folders; rename clusters/Face_<k> folders to people's names first"
        )
    return classes


def collect(out: str | Path, run: RunFolder | None = None) -> tuple[list[Item], list[str]]:
    """Items of every named folder of a run (read from `out`, unless given), and the class
    names (sorted)."""
    import cv2

    run = run or RunFolder.load(out)
    classes = named_classes(run)
    cls_of = {name: k for k, name in enumerate(classes)}
    person = {f.id: name for name, f in run.named_faces()}
    folder_of = {fid: f.name for f in run.tree.named for fid in f.face_ids}
    sizes = {v.video.path: (v.video.width, v.video.height) for v in read_run_info(run.out).inputs}
    by_frame: dict[tuple[str, int], list[Face]] = defaultdict(list)
    for f in run.faces.values():
        by_frame[(f.video, f.frame_index)].append(f)
    place = OutDir(run.out)
    items = []
    for fid in person:
        face = run.faces[fid]
        # The crop as the user may have re-saved it (.jpeg, .PNG) too.
        image = place.crop(fid, folder_of[fid]) or place.dir(folder_of[fid]) / f"{fid}.jpg"
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


def _people_left(
    items: list[Item], classes: list[str], keep: list[str], min_box: int
) -> tuple[list[Item], list[str], list[str]]:
    """The crop items of the people kept, relabelled to the classes left and notes: a person
    none of whose crops is left (all narrower than --min-box, or unreadable) is left out, as a
    class with no image would shift every later class index of an ImageFolder."""
    items = [i for i in items if classes[i.labels[0][0]] in keep]
    have = {classes[i.labels[0][0]] for i in items}
    gone = [c for c in keep if c not in have]
    if len(gone) == len(keep):
        raise ClusterpipeError(
            f"no crop of a named person is left (--min-box {min_box}, unreadable crops): "
            "lower --min-box"
        )
    notes = []
    if gone:
        notes.append(
            f"left out, no crop left (--min-box {min_box}, unreadable crops): {', '.join(gone)}"
        )
        log.warning("%s", notes[0])
    left = [c for c in keep if c in have]
    remap = {classes.index(c): k for k, c in enumerate(left)}
    items = [
        replace(
            i,
            labels=tuple(
                (remap[c], x1, y1, x2, y2) for c, x1, y1, x2, y2 in i.labels if c in remap
            ),
        )
        for i in items
    ]
    return items, left, notes


def _cuts(out: Path) -> dict[str, list[int]] | None:
    """Where the run's shots start, or None where its shards are gone (then: time blocks)."""
    from ..store.shards import load_samples

    try:
        samples = load_samples(out)
    except ClusterpipeError:
        return None
    return shot_starts(samples) if samples else None


def _rejected(out: Path) -> set[str]:
    """Faces the user rejected: in corrections.json, in OUT/rejected/, or with no crop left."""
    from ..people.runview import load_view
    from ..store.corrections import Corrections

    view = load_view(out)
    return set(Corrections.load(out).rejected) | {f for f, w in view.now.items() if w is None}


@dataclass
class ExportResult(DictAccess):
    """What an export wrote: its classes and people, images per split, the val fraction
    reached, and who or what was left out, dropped or masked (the card says the same)."""

    format: str
    classes: list[str]
    people: list[str]
    images: dict[str, int]
    dest: str
    val_fraction: float
    train_only: list[str]
    dropped_near_train: int
    too_few_faces: list[str]
    near_duplicate_pairs: int
    near_duplicates_across_split: int
    class_val_share_off: dict[str, float]
    masked_small: int
    rejected_dropped: int
    backgrounds: int

    def to_json(self) -> dict:
        return asdict(self)


def export(
    out: str | Path,
    dest: str | Path,
    fmt: str,
    val_fraction: float = ExportSettings.val_fraction,
    seed: int = ExportSettings.seed,
    min_faces: int = ExportSettings.min_faces,
    images: str = ExportSettings.images,
    single_class: bool = ExportSettings.single_class,
    backgrounds: float = ExportSettings.backgrounds,
    min_box: int = ExportSettings.min_box,
) -> ExportResult:
    """Write the named folders of a run as a dataset in `fmt`, with its card (README.md,
    dataset.json); return counts per split, the val fraction reached and the people left out
    of val or dropped."""
    fmt_cls = Exporter.get(fmt)
    settings = ExportSettings(
        val_fraction, images, single_class, min_faces, seed, backgrounds, min_box
    )  # checks every value
    if images not in fmt_cls.images:
        raise ClusterpipeError(
            f"--images {images} is not available for --format {fmt} "
            f"(it writes: {', '.join(fmt_cls.images)})"
        )
    if single_class and images != "frames":
        raise ClusterpipeError(
            "--single-class labels every face of a frame as `face`: use it with --images frames"
        )
    dest = Path(dest)
    if dest.is_symlink():  # the dataset goes where the link points; the link stays
        dest = dest.resolve()
    check_outside_run(Path(out), dest, "a dataset")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StoreError(f"{dest}: exists and is not empty; choose a new folder")
    run = RunFolder.load(Path(out))  # a mistyped OUT is refused before anything is made
    refuse_if_interrupted(run.out)
    with staged(dest) as stage:
        return _export(run, dest, stage, fmt_cls, settings)


def _export(run: RunFolder, dest: Path, stage: Path, fmt_cls, s: ExportSettings) -> ExportResult:
    from ..store.shards import load_samples

    out = run.out
    for fid in run.tree.in_two_folders:
        log.warning("%s: face %s is in two folders (copied, not moved); exported once", out, fid)
    # Frames exports label the frames, not the crops: those are read (and checked) only for
    # crops exports.
    items, classes = ([], named_classes(run)) if s.images == "frames" else collect(out, run)
    # --min-faces counts every face of a person's folder, not the images that hold them.
    per_person = Counter(name for name, _ in run.named_faces())
    few = sorted(c for c in classes if per_person[c] < s.min_faces)
    keep = [c for c in classes if c not in few]
    if not keep:
        raise ClusterpipeError(f"no person has {s.min_faces} faces or more; lower --min-faces")
    if s.images == "frames" and not s.single_class and FACE_CLASS in keep:
        raise ClusterpipeError(
            f"a person is named {FACE_CLASS!r}, the class a frames export gives the faces of "
            "people not named: rename that folder (or use --single-class)"
        )
    left_small = 0
    frames = None
    notes: list[str] = []
    if s.images == "frames":
        try:
            samples = load_samples(out)
        except ClusterpipeError:
            samples = []
        frames = frame_items(
            run,
            keep,
            stage / ".frames",
            s.single_class,
            _rejected(out),
            s.min_box,
            s.backgrounds,
            samples,
        )
        items, out_classes = frames.items, frames.classes
    else:
        wide = [i for i in items if i.face.box[2] - i.face.box[0] >= s.min_box]
        left_small = len(items) - len(wide)
        items, out_classes, notes = _people_left(wide, classes, keep, s.min_box)
    pairs = near_pairs(
        thumbnails([i.image for i in items]),
        None if s.images == "frames" else [i.labels[0][0] if i.labels else -1 for i in items],
    )
    links = [(a, b) for a, b, _ in pairs]
    ids = [i.face.id for i in items]  # the pairs' positions, before the split drops any
    items, report = split_items(items, s.val_fraction, s.seed, _cuts(out), links)
    side = {i.face.id: i.split for i in items}
    crossing = sum(
        1 for a, b, _ in pairs if ids[a] in side and ids[b] in side and side[ids[a]] != side[ids[b]]
    )
    # One layout whatever the split: train, and val when there is one.
    splits = [x for x in SPLITS if x == "train" or any(i.split == x for i in items)]
    counts: dict[str, dict[str, int]] = {x: {} for x in splits}
    for i in items:
        for c, *_ in i.labels:
            name = out_classes[c]
            counts[i.split][name] = counts[i.split].get(name, 0) + 1
    names = [n for n in out_classes if n != FACE_CLASS]
    card = Card(
        fmt_cls.name,
        s.images,
        str(run.run_id),
        sorted({v.video.path for v in read_run_info(out).inputs}),
        _version(),
        asdict(s),
        out_classes,
        counts,
        {x: sum(i.split == x for i in items) for x in splits},
        [out_classes[c] for c in report.train_only if c < len(out_classes)],
        few,
        len(pairs),
        report.units,
        crossing,
        frames.masked if frames else 0,
        left_small,
        frames.rejected if frames else 0,
        frames.backgrounds if frames else 0,
        frames.notes if frames else notes,
    )
    try:
        fmt_cls(dest.resolve(), s.images).write(stage, items, out_classes, splits)
        shutil.rmtree(stage / ".frames", ignore_errors=True)
        card.write(stage)
        seal(stage)
        if dest.exists():
            dest.rmdir()
        stage.rename(dest)
    except OSError as e:
        raise StoreError(f"{dest}: export failed ({e.strerror or e})") from e
    target = s.val_fraction
    off = {
        out_classes[c]: share
        for c, share in report.class_val_share.items()
        if target and abs(share - target) > max(0.15, target / 2)
    }
    return ExportResult(
        format=fmt_cls.name,
        classes=out_classes,
        people=names,
        images=card.images_per_split,
        dest=str(dest),
        val_fraction=round(report.val_fraction, 3),
        train_only=card.train_only,
        dropped_near_train=report.dropped_near,
        too_few_faces=few,
        near_duplicate_pairs=len(pairs),
        near_duplicates_across_split=crossing,
        class_val_share_off=off,
        masked_small=card.masked_small,
        rejected_dropped=card.rejected_dropped,
        backgrounds=card.backgrounds,
    )


def _version() -> str:
    from .. import __version__

    return __version__
