"""Recognise gallery people in photos and videos, and name the folders of a run."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from .._moved import DictAccess
from ..config import EncodeSettings
from ..errors import InputError, not_utf8
from ..store.records import Face, person_space
from .store import Gallery, default_threshold

K = TypeVar("K")
log = logging.getLogger("clusterpipe")
# A folder named from the gallery whose faces match another known person this often (or more)
# is said to be two people, rather than silently teaching the gallery the other's faces.
CONTESTED = 0.2
IMAGE_INPUTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


# Decoding a 20000x20000 image takes 1.2 GB before a face is looked for: refuse larger ones.
MAX_IMAGE_PIXELS = 100_000_000
# An image Pillow cannot size from its header is decoded only up to this many bytes of file.
MAX_UNCHECKED_BYTES = 64 << 20


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of an image file from its header alone, or None if it is not one."""
    from PIL import Image

    # Pillow's own bomb check (a warning, then an error past twice its limit) would hide the
    # size: ours speaks instead. Only the header is read.
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as im:
            return im.size
    except Exception:  # any unreadable header: not an image Pillow knows
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _read_image(path: Path):
    """The BGR pixels of an image input, checked against MAX_IMAGE_PIXELS first."""
    size = _image_size(path)
    if size and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{path}: {size[0]}x{size[1]} pixels is over the limit of {MAX_IMAGE_PIXELS:,}; "
            "shrink the image first"
        )
    if size is None and path.stat().st_size > MAX_UNCHECKED_BYTES:
        raise InputError(
            f"{path}: an image whose size cannot be read from its header (a format such as "
            f"PAM, PFM or HDR) over {MAX_UNCHECKED_BYTES >> 20} MB; convert it to JPEG or PNG"
        )
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)  # any file name
    if image is None and path.suffix.lower() == ".gif":
        cap = cv2.VideoCapture(str(path))  # OpenCV reads GIFs as videos: take the first frame
        ok, image = cap.read()
        cap.release()
        image = image if ok else None
    return image


def _looks_like_image(path: Path) -> bool:
    """Whether a file's first bytes are an image's, whatever its extension says (a photo saved
    as .mp4 is read as the photo it is)."""
    return not_utf8(str(path)) is None and cv2.haveImageReader(str(path))


def _encode_input(path: Path, encoder, settings: EncodeSettings) -> Iterator[tuple]:
    """(time_s or None, boxes in original pixels, encodings) for each image or sampled frame of
    an input; InputError after the last frame read where a video ended early (damaged)."""
    from ..encode.frame import detect_and_encode
    from ..engines.base import read_stats
    from ..sample.samples import ReadReport
    from ..sample.video import probe, sample_frames

    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give image or video files")
    image = None
    frames: Iterable[tuple[float | None, np.ndarray]]
    if path.suffix.lower() in IMAGE_INPUTS or not path.suffix or _looks_like_image(path):
        image = _read_image(path)  # an extension-less file may be an image or a video
        if image is None and path.suffix:
            raise InputError(f"{path}: not an image OpenCV can read (damaged or not an image)")
    report = ReadReport()
    info = None
    if image is not None:
        frames = [(None, image)]
    else:
        info = probe(path)
        frames = (
            (s.time_s, s.image)
            for s in sample_frames(info.path, settings.fps, report, decoder=settings.decoder)
        )
    for t, image in frames:
        found = detect_and_encode(encoder, image, settings)
        yield t, found.boxes, found.encodings if found.vectors is None else found.vectors
    if info is not None:
        read = read_stats(info, report.frames_read, report.last_time_s, report.damaged_frames)
        if damage := read.damage():
            raise InputError(f"{path}: {damage} (the faces before are listed)")


@dataclass(frozen=True)
class Identified(DictAccess):
    """One face of an input: where it is, its best gallery name (or 'unknown') and distance."""

    input: str
    time_s: float | None  # None for a photo
    box: list[int]  # x1, y1, x2, y2 in the input's pixels
    name: str
    distance: float  # inf for an empty gallery
    nearest: str | None  # the nearest person even beyond the threshold

    def to_json(self) -> dict:
        """A JSON object (JSON has no Infinity: an infinite distance is null)."""
        d = asdict(self)
        d["box"] = list(self.box)
        d["distance"] = self.distance if math.isfinite(self.distance) else None
        return d


def identify(
    inputs: Sequence[str | Path],
    gallery_dir: str | Path,
    threshold: float | None = None,
    settings: EncodeSettings | None = None,
    errors: dict[str, str] | None = None,
) -> Iterator[Identified]:
    """For each face in images/videos: its best gallery name (or 'unknown') and distance.

    Faces are encoded in the gallery's person space; the threshold defaults to that space's.
    Inputs that cannot be read are skipped and their error put in `errors`.
    """
    from ..encode.dlib import FaceEncoder

    gallery = Gallery.open(gallery_dir)
    settings = replace(settings or EncodeSettings(), encoder=gallery.encoder)
    if threshold is None:
        threshold = default_threshold(gallery.encoder)
    encoder = FaceEncoder(settings)
    for inp in inputs:
        path = Path(inp)
        try:  # each frame's faces as soon as they are known: Ctrl-C keeps what was printed
            for t, boxes, vectors in _encode_input(path, encoder, settings):
                if not len(boxes):
                    continue
                for box, m in zip(boxes, gallery.identify(np.asarray(vectors), threshold)):
                    d = round(m.distance, 4)
                    yield Identified(str(inp), t, list(box), m.name, d, m.nearest or None)
        except InputError as e:
            if errors is None:
                raise
            errors[str(inp)] = str(e)


def name_clusters(
    faces: Sequence[Face],
    gallery_dir: str | Path,
    threshold: float | None = None,
    encoder: str = "dlib",
    min_share: float = 0.5,
) -> dict[int, str]:
    """Cluster label -> gallery name, where most of a cluster's faces match one known person
    (a run names the cluster's folder so); warns of a folder that holds another known person."""
    groups: dict[int, list[Face]] = defaultdict(list)
    for f in faces:
        if f.cluster >= 0:
            groups[f.cluster].append(f)
    named = name_groups(groups, Gallery.open(gallery_dir), threshold, encoder, min_share)
    for label, doubt in named.doubts.items():
        log.warning(doubt.says(named[label]))
    return dict(named.names)


@dataclass(frozen=True)
class Doubt:
    """A group named after one known person in which another known person's faces recur."""

    other: str
    faces: int  # the group's faces that look like `other`
    of: int  # the group's faces

    def says(self, folder: str) -> str:
        """One line for the log: which folder, who else, what to do."""
        return (
            f"{folder}: named from the gallery, but {self.faces} of the {self.of} faces put "
            f"there look like {self.other}: two people in one folder? Move those faces out "
            f"(or `clusterpipe split OUT {folder}`) before you promote it"
        )


class GroupNames(Mapping[K, str]):
    """Group -> gallery name, where most of a group's faces match one known person; `doubts`:
    the named groups that hold another known person too (see Doubt)."""

    def __init__(self, names: dict[K, str], doubts: dict[K, Doubt]) -> None:
        self.names, self.doubts = names, doubts

    def __getitem__(self, key: K) -> str:
        return self.names[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"GroupNames({self.names!r}, doubts={self.doubts!r})"


def name_groups(
    groups: Mapping[K, Sequence[Face]],
    gallery: Gallery,
    threshold: float | None = None,
    encoder: str = "dlib",
    min_share: float = 0.5,
) -> GroupNames[K]:
    """Group -> gallery name, where most of a group's faces match one known person; the
    caller says which folder a doubt is about, once it knows where the group goes."""
    gallery.require(encoder, "this run")
    if threshold is None:
        threshold = default_threshold(encoder)
    keys = [k for k, fs in groups.items() if fs]
    if not keys:
        return GroupNames({}, {})
    every = [f for k in keys for f in groups[k]]
    matches = iter(gallery.identify(person_space(every, encoder).astype(np.float32), threshold))
    names: dict[K, str] = {}
    doubts: dict[K, Doubt] = {}
    for key in keys:
        votes: dict[str, int] = defaultdict(int)
        for _ in groups[key]:
            m = next(matches)
            if m.name != "unknown":
                votes[m.name] += 1
        if votes:
            ranked = sorted(votes, key=lambda n: -votes[n])
            best, n = ranked[0], len(groups[key])
            if votes[best] >= min_share * n:
                names[key] = best
                other = ranked[1] if len(ranked) > 1 else None
                if other and votes[other] >= max(2, CONTESTED * n):
                    doubts[key] = Doubt(other, votes[other], n)
    return GroupNames(names, doubts)


def gallery_namer(gallery_dir: str | Path, threshold: float | None = None):
    """A recluster `namer` (people.repair.Namer) that names groups after the gallery's people;
    the gallery is opened and checked now, before anything moves, and only once (opening
    checks its files' SHA-256)."""
    gallery = Gallery.open(gallery_dir)

    def namer(groups: Mapping[str, Sequence[Face]], encoder: str) -> GroupNames[str]:
        return name_groups(groups, gallery, threshold, encoder)

    return namer
