"""The human loop on files alone: status of named folders, promote, gallery, identify."""

from __future__ import annotations

import logging
import unicodedata
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from .config import EncodeSettings, IndexSettings
from .errors import ClusterpipeError, InputError
from .folders import ClusterTree, check_name, scan
from .gallery import Gallery, default_threshold, locked
from .gallery_index import IndexPlan
from .layout import is_generated_file
from .records import Face, person_space
from .runfiles import attach_vectors, read_run_info
from .store import FACES_FILE, RUN_FILE, read_faces

log = logging.getLogger("clusterpipe")


@dataclass
class RunFolder:
    """One run's output folder as the user left it."""

    out: Path
    run_id: str
    faces: dict[str, Face]
    tree: ClusterTree
    encoder: str = "dlib"  # the person space the run clustered in

    @classmethod
    def load(cls, out: str | Path) -> RunFolder:
        out = Path(out)
        info = read_run_info(out) if (out / RUN_FILE).exists() else None
        if info is None:
            raise ClusterpipeError(f"{out}: no run.json; is this a clusterpipe output folder?")
        listed = read_faces(out / FACES_FILE)
        encoder = attach_vectors(out, listed)
        faces = {f.id: f for f in listed}
        run_id = str(info.get("run_id") or out.resolve())
        return cls(out, run_id, faces, scan(out, set(faces)), encoder)

    def named_faces(self) -> Iterator[tuple[str, Face]]:
        """(person's name, face) for every crop in a named folder."""
        for folder in self.tree.named:
            for fid in folder.face_ids:
                yield folder.person, self.faces[fid]


@dataclass
class Status:
    """Named and unnamed folders of one or more runs, and everything odd."""

    runs: list[RunFolder]
    problems: list[str] = field(default_factory=list)
    shared_names: dict[str, list[str]] = field(default_factory=dict)


def status(outs: Sequence[str | Path]) -> Status:
    """Read the folders of each run and list what a user should look at."""
    runs = [RunFolder.load(o) for o in outs]
    st = Status(runs)
    by_name: dict[str, set[str]] = defaultdict(set)
    for r in runs:
        t = r.tree
        st.problems += [f"{r.out}: file not mapped to a face: {p}" for p in t.unmapped]
        st.problems += [
            f"{r.out}: folder {n!r} has a bad name: {why}" for n, why in t.bad_names.items()
        ]
        st.problems += [f"{r.out}: symlink not followed: {p}" for p in t.skipped_links]
        st.problems += [
            f"{r.out}: face {i} is in two folders (copied, not moved)" for i in t.in_two_folders
        ]
        spellings: dict[str, list[str]] = defaultdict(list)
        for f in t.named:
            by_name[f.person.casefold()].add(str(r.out))
            spellings[f.person.casefold()].append(f.name)
            if not f.face_ids:
                st.problems.append(f"{r.out}: folder {f.name!r} is empty")
        for names in spellings.values():
            forms = {f.person for f in t.named if f.name in names}
            if len(names) > 1 and len(forms) == 1:  # the same name, two Unicode forms
                st.problems.append(
                    f"{r.out}: folders {' and '.join(map(ascii, sorted(names)))} are one name "
                    "written two ways (Unicode NFC and NFD, as Linux and macOS write it): one "
                    "person for promote and export; merge them into one folder"
                )
            elif len(names) > 1:  # promote keeps them apart: a name is case-sensitive
                st.problems.append(
                    f"{r.out}: folders {' and '.join(map(repr, sorted(names)))} differ only by "
                    "case: one folder on macOS and Windows, two people for promote; merge them"
                )
    st.shared_names = {n: sorted(o) for n, o in by_name.items() if len(o) > 1}
    return st


@dataclass
class PromoteResult:
    """What promote changed in the gallery, per person."""

    added: dict[str, int]
    removed: dict[str, int]
    total: int
    plan: IndexPlan  # the index the gallery now searches with


def gallery_settings(gallery_dir: str | Path) -> IndexSettings:
    """The index settings a gallery was built with (the defaults for a new one)."""
    return Gallery.recorded_settings(gallery_dir)


def promote(
    out: str | Path, gallery_dir: str | Path, index: IndexSettings | None = None
) -> PromoteResult:
    """Make the gallery hold exactly the named folders of this run (idempotent); with `index`,
    build the gallery's index with these settings from now on (else the gallery's own)."""
    run = RunFolder.load(out)
    if run.tree.bad_names:
        name, why = next(iter(run.tree.bad_names.items()))
        raise ClusterpipeError(f"{run.out}: rename folder {name!r} first: {why}")
    for fid in run.tree.in_two_folders:
        log.warning(
            "%s: face %s is in two folders (copied, not moved); promoted once", run.out, fid
        )
    for path in run.tree.unmapped:
        if is_generated_file(Path(path).name):
            log.warning(
                "%s: %s is not a face of this run (moved in from another run?); not promoted",
                run.out,
                path,
            )
    pairs = list(run.named_faces())
    with locked(gallery_dir, create=True, encoder=run.encoder) as g:
        g.require(run.encoder, f"run {run.out}")
        old = {(e["face_id"], e["name"]) for e in g.entries if e["run"] == run.run_id}
        new = {(f.id, name) for name, f in pairs}
        keep = np.array(
            [e["run"] != run.run_id or (e["face_id"], e["name"]) in new for e in g.entries],
            dtype=bool,
        )
        fresh = [(name, f) for name, f in pairs if (f.id, name) not in old]
        entries = [
            {
                "name": name,
                "run": run.run_id,
                "out": str(run.out.resolve()),
                "video": f.video,
                "time_s": f.time_s,
                "face_id": f.id,
            }
            for name, f in fresh
        ]
        vectors = person_space([f for _, f in fresh], run.encoder).astype(np.float32)
        if fresh or not keep.all() or (index is not None and index != g.settings):
            g.replace(keep, vectors, entries, index)
            g.save()
        added: dict[str, int] = defaultdict(int)
        removed: dict[str, int] = defaultdict(int)
        for name, _ in fresh:
            added[name] += 1
        for _, name in old - new:
            removed[name] += 1
        return PromoteResult(dict(added), dict(removed), len(g.entries), g.plan)


@dataclass
class GalleryInfo:
    """Who is in a gallery, and how it is searched."""

    people: dict[str, int]
    plan: IndexPlan
    settings: IndexSettings


def gallery_info(gallery_dir: str | Path) -> GalleryInfo:
    """The people of a gallery (name -> faces, largest first) and its index."""
    g = Gallery.open(gallery_dir)
    return GalleryInfo(g.people(), g.plan, g.settings)


def list_people(gallery_dir: str | Path) -> dict[str, int]:
    """Name -> faces in the gallery."""
    return Gallery.open(gallery_dir).people()


def remove_person(gallery_dir: str | Path, name: str) -> int:
    """Take a person out of the gallery; return how many faces were removed."""
    name = check_name(name)  # NFC: one person however the name was typed
    with locked(gallery_dir) as g:
        nfc = [unicodedata.normalize("NFC", str(e["name"])) for e in g.entries]
        keep = np.array([n != name for n in nfc], dtype=bool)
        if keep.all():
            raise ClusterpipeError(
                f"{name!r} is not in the gallery; `clusterpipe gallery {gallery_dir}` lists who is"
            )
        g.replace(keep, np.zeros((0, g.dim), np.float32), [])
        g.save()
        return int((~keep).sum())


IMAGE_INPUTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
# Decoding a 20000x20000 image takes 1.2 GB before a face is looked for: refuse larger ones.
MAX_IMAGE_PIXELS = 100_000_000


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of an image file from its header alone, or None if it is not one."""
    from PIL import Image

    try:
        with warnings.catch_warnings():  # Pillow's own bomb warning: our limit speaks instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.size
    except Exception:  # any unreadable header: not an image Pillow knows
        return None


def _read_image(path: Path):
    """The BGR pixels of an image input, checked against MAX_IMAGE_PIXELS first."""
    size = _image_size(path)
    if size and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{path}: {size[0]}x{size[1]} pixels is over the limit of {MAX_IMAGE_PIXELS:,}; "
            "shrink the image first"
        )
    image = cv2.imread(str(path))
    if image is None and path.suffix.lower() == ".gif":
        cap = cv2.VideoCapture(str(path))  # OpenCV reads GIFs as videos: take the first frame
        ok, image = cap.read()
        cap.release()
        image = image if ok else None
    return image


def _encode_input(path: Path, encoder, settings: EncodeSettings) -> Iterator[tuple]:
    """(time_s or None, box in original pixels, encoding) for each face of an image or video."""
    from .encode import detect_and_encode
    from .video import probe, sample_frames

    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give image or video files")
    image = None
    frames: Iterable[tuple[float | None, np.ndarray]]
    if path.suffix.lower() in IMAGE_INPUTS or not path.suffix:
        image = _read_image(path)  # an extension-less file may be an image or a video
        if image is None and path.suffix:
            raise InputError(f"{path}: not an image OpenCV can read (damaged or not an image)")
    if image is not None:
        frames = [(None, image)]
    else:
        info = probe(path)
        frames = (
            (s.time_s, s.image)
            for s in sample_frames(info.path, settings.fps, decoder=settings.decoder)
        )
    for t, image in frames:
        found = detect_and_encode(encoder, image, settings)
        vectors = found.encodings if found.vectors is None else found.vectors
        for box, e in zip(found.boxes, vectors):
            yield t, box, e


def identify(
    inputs: Sequence[str | Path],
    gallery_dir: str | Path,
    threshold: float | None = None,
    settings: EncodeSettings | None = None,
    errors: dict[str, str] | None = None,
) -> Iterator[dict]:
    """For each face in images/videos: its best gallery name (or 'unknown') and distance.

    Faces are encoded in the gallery's person space; the threshold defaults to that space's.
    Inputs that cannot be read are skipped and their error put in `errors`.
    """
    from .faces import FaceEncoder

    gallery = Gallery.open(gallery_dir)
    settings = replace(settings or EncodeSettings(), encoder=gallery.encoder)
    if threshold is None:
        threshold = default_threshold(gallery.encoder)
    encoder = FaceEncoder(settings)
    for inp in inputs:
        path = Path(inp)
        try:
            faces = list(_encode_input(path, encoder, settings))
        except InputError as e:
            if errors is None:
                raise
            errors[str(inp)] = str(e)
            continue
        matches = gallery.identify(np.array([e for _, _, e in faces]), threshold)
        for (t, box, _), m in zip(faces, matches):
            yield {
                "input": str(inp),
                "time_s": t,
                "box": box,
                "name": m.name,
                "distance": round(m.distance, 4),
                "nearest": m.nearest,
            }


def name_clusters(
    faces: Sequence[Face],
    gallery_dir: str | Path,
    threshold: float | None = None,
    encoder: str = "dlib",
    min_share: float = 0.5,
) -> dict[int, str]:
    """Cluster label -> gallery name, where most of a cluster's faces match one known person."""
    gallery = Gallery.open(gallery_dir)
    gallery.require(encoder, "this run")
    if threshold is None:
        threshold = default_threshold(encoder)
    members: dict[int, list[int]] = defaultdict(list)
    for i, f in enumerate(faces):
        if f.cluster >= 0:
            members[f.cluster].append(i)
    if not members:
        return {}
    matches = gallery.identify(person_space(faces, encoder).astype(np.float32), threshold)
    names: dict[int, str] = {}
    for label, idx in members.items():
        votes: dict[str, int] = defaultdict(int)
        for i in idx:
            if matches[i].name != "unknown":
                votes[matches[i].name] += 1
        if votes:
            best = max(votes, key=lambda n: votes[n])
            if votes[best] >= min_share * len(idx):
                names[label] = best
    return names
