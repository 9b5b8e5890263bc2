"""Full-frame detection sets: the sampled frames at their original size, every face the run
found labelled (named people by class, the others as one `face` class), so that no face is an
unlabelled negative."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import cv2

from ..errors import InputError
from ..layout import JPEG_QUALITY
from ..people import RunFolder
from ..records import Face
from ..runfiles import read_run_info
from .base import Item

FACE_CLASS = "face"  # faces of people not named


def frame_items(
    run: RunFolder, classes: list[str], folder: Path, single_class: bool = False
) -> tuple[list[Item], list[str]]:
    """Items of the frames holding a named face (any face with single_class), decoded again
    from the videos into `folder`, and the class list."""
    from ..video import sample_frames

    person = {f.id: name for name, f in run.named_faces()}
    by_frame: dict[tuple[str, int], list[Face]] = defaultdict(list)
    for f in run.faces.values():
        by_frame[(f.video, f.frame_index)].append(f)
    wanted = {
        key: faces
        for key, faces in by_frame.items()
        if single_class or any(f.id in person for f in faces)
    }
    out_classes = [FACE_CLASS] if single_class else [*classes, FACE_CLASS]
    cls_of = {name: k for k, name in enumerate(classes)}
    encode = read_run_info(run.out).get("settings", {}).get("encode", {})
    fps, decoder = float(encode.get("fps", 1.0)), str(encode.get("decoder", "pyav"))
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for video in sorted({v for v, _ in wanted}):
        need = {i for v, i in wanted if v == video}
        if not Path(video).is_file():
            raise InputError(f"{video}: the run's video is gone; --images frames decodes it")
        for s in sample_frames(video, fps, decoder=decoder):
            if s.frame_index not in need:
                continue
            faces = wanted[(video, s.frame_index)]
            faces.sort(key=lambda f: (f.id not in person, f.id))  # named people first
            labels = tuple(
                (
                    0 if single_class else cls_of.get(person.get(f.id, ""), len(classes)),
                    float(f.box[0]),
                    float(f.box[1]),
                    float(f.box[2]),
                    float(f.box[3]),
                )
                for f in faces
            )
            path = folder / f"{faces[0].id}.jpg"
            cv2.imwrite(str(path), s.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            h, w = s.image.shape[:2]
            items.append(Item(path, faces[0], (w, h), labels))
    items.sort(key=lambda i: i.face.id)
    return items, out_classes
