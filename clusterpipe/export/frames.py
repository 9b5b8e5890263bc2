"""Full-frame detection sets: the sampled frames at their original size, every face the run
found labelled (named people by class, the others as one `face` class), so that no face is an
unlabelled negative. Rejected detections are dropped, faces under --min-box are masked, and a
share of face-free frames joins as backgrounds."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import ClusterpipeError, InputError, StoreError
from ..people.status import RunFolder
from ..store.layout import JPEG_QUALITY
from ..store.records import Face
from ..store.runinfo import RunInfo, read_run_info
from .base import Item

FACE_CLASS = "face"  # faces of people not named (or named, but under --min-faces)
BACKGROUND_K = 99  # the face number in a background image's name: <video>-<frame>-99

log = logging.getLogger("clusterpipe")


@dataclass
class FrameSet:
    """Frame items and what was done to their faces, for the dataset card."""

    items: list[Item]
    classes: list[str]
    masked: int = 0  # faces under --min-box, masked grey and unlabelled
    rejected: int = 0  # detections the user rejected: no box
    backgrounds: int = 0
    notes: list[str] = field(default_factory=list)


def _background_faces(info: RunInfo, with_faces: set, want: int, samples) -> list[Face]:
    """Up to `want` sampled frames with no face, spread evenly over the footage, as
    placeholder Faces (no box) that name the frame."""
    keys = {v.video.path: v.video.key for v in info.inputs if v.video.key}
    free = [(v, i) for v, i, _ in samples if (v, i) not in with_faces and v in keys]
    if not free or want <= 0:
        return []
    pick = np.linspace(0, len(free) - 1, num=min(want, len(free))).round().astype(int)
    out = []
    for k in sorted(set(pick.tolist())):
        video, index = free[k]
        out.append(
            Face(f"{keys[video]}-{index:07d}-{BACKGROUND_K}", video, index, -1.0, (0, 0, 0, 0), [])
        )
    return out


def frame_items(
    run: RunFolder,
    classes: list[str],
    folder: Path,
    single_class: bool = False,
    rejected: Collection[str] = (),
    min_box: int = 0,
    backgrounds: float = 0.0,
    samples: Sequence[tuple] | None = None,
) -> FrameSet:
    """Items of the frames holding a named face (any face with single_class), decoded again
    from the videos into `folder`, and the class list. People not in `classes` are `face`."""
    from ..sample.video import sample_frames

    person = {f.id: name for name, f in run.named_faces()}
    by_frame: dict[tuple[str, int], list[Face]] = defaultdict(list)
    for f in run.faces.values():
        by_frame[(f.video, f.frame_index)].append(f)
    wanted = {
        key: faces
        for key, faces in by_frame.items()
        if single_class or any(f.id in person and f.id not in rejected for f in faces)
    }
    info = read_run_info(run.out)
    n_bg = round(backgrounds * len(wanted))
    extra = _background_faces(info, set(by_frame), n_bg, samples or [])
    for bg in extra:
        wanted[(bg.video, bg.frame_index)] = [bg]
    out_classes = [FACE_CLASS] if single_class else [*classes, FACE_CLASS]
    cls_of = {name: k for k, name in enumerate(classes)}
    fps, decoder = info.sampling()
    folder.mkdir(parents=True, exist_ok=True)
    result = FrameSet([], out_classes)
    for video in sorted({v for v, _ in wanted}):
        need = {i for v, i in wanted if v == video}
        if not Path(video).is_file():
            raise InputError(f"{video}: the run's video is gone; --images frames decodes it")
        for s in sample_frames(video, fps, decoder=decoder):
            if s.frame_index not in need:
                continue
            faces = wanted[(video, s.frame_index)]
            faces.sort(key=lambda f: (f.id not in person, f.id))  # named people first
            image = s.image
            h, w = image.shape[:2]
            labels: list[tuple[int, float, float, float, float]] = []
            for f in faces:
                if f.time_s < 0:  # a background frame's placeholder
                    result.backgrounds += 1
                    continue
                x1, y1, x2, y2 = f.box
                if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):  # detection clips to it
                    raise StoreError(
                        f"faces.jsonl: face {f.id}'s box {list(f.box)} is not inside its {w}x{h} "
                        "frame: the file was changed; run `clusterpipe run` again with --fresh"
                    )
                if f.id in rejected:  # not a face of this dataset: no box
                    result.rejected += 1
                    continue
                if f.box[2] - f.box[0] < min_box:  # an ignore region: masked, unlabelled
                    a, b, c2, d = (max(0, int(v)) for v in f.box)
                    image[b:d, a:c2] = 114
                    result.masked += 1
                    continue
                c = 0 if single_class else cls_of.get(person.get(f.id, ""), len(classes))
                labels.append(
                    (c, float(f.box[0]), float(f.box[1]), float(f.box[2]), float(f.box[3]))
                )
            if not labels and faces[0].time_s >= 0 and not single_class:
                continue  # every named face of it rejected or masked
            path = folder / f"{faces[0].id}.jpg"
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            result.items.append(Item(path, faces[0], (w, h), tuple(labels)))
    result.items.sort(key=lambda i: i.face.id)
    if not any(i.labels for i in result.items):
        raise ClusterpipeError(
            f"no face is left to label (--min-box {min_box}, rejected faces): lower --min-box"
        )
    if n_bg and not extra:
        result.notes.append("no face-free sampled frame to add as background")
    elif len(extra) < n_bg:
        result.notes.append(
            f"--backgrounds {backgrounds:g} asked for {n_bg} face-free frames; the run sampled "
            f"only {len(extra)}, all added"
        )
    for note in result.notes:
        log.warning("%s", note)
    return result
