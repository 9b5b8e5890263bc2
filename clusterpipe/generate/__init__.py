"""Write what a person looks at: per-cluster crops with YOLO labels, noise, montages, report."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from imutils import build_montages

from ..detect.boxes import PORTRAIT_ASPECT, PORTRAIT_WIDTH
from ..errors import StoreError
from ..store.layout import (
    CLUSTERS_DIR,
    JPEG_QUALITY,
    MONTAGES_DIR,
    NOISE_DIR,
    UNNAMED_PREFIX,
    cluster_folder,
    is_unnamed,
)
from ..store.places import own_dir
from ..store.records import Face
from ..store.shards import CropRef
from .swap import swap_in

log = logging.getLogger("clusterpipe")
# Re-exported: callers that generate also name the folders.
__all__ = ["CLUSTERS_DIR", "MONTAGES_DIR", "NOISE_DIR", "UNNAMED_PREFIX", "cluster_folder"]

MONTAGE_TILE = (96, 128)  # width, height of one face in a montage
MONTAGE_GRID = (6, 5)  # columns, rows
_JPEG = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]


def named_folders(out: Path) -> list[str]:
    """Folders in OUT/clusters that a user renamed (not Face_<n>)."""
    root = Path(out) / CLUSTERS_DIR
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not is_unnamed(p.name))


def _montage_picks(faces: list[Face], folder_of) -> set[str]:
    by_cluster: dict[str, list[Face]] = defaultdict(list)
    for f in faces:
        if f.cluster >= 0:
            by_cluster[folder_of(f.cluster)].append(f)
    per = MONTAGE_GRID[0] * MONTAGE_GRID[1]
    picks: set[str] = set()
    for members in by_cluster.values():
        idx = np.linspace(0, len(members) - 1, num=min(per, len(members))).round().astype(int)
        picks.update(members[i].id for i in idx)
    return picks


# libjpeg decodes at 1/2, 1/4 or 1/8 scale in the DCT domain, several times faster than a full
# decode followed by a shrink.
_REDUCED = (
    (8, cv2.IMREAD_REDUCED_COLOR_8),
    (4, cv2.IMREAD_REDUCED_COLOR_4),
    (2, cv2.IMREAD_REDUCED_COLOR_2),
)


def _tile(jpg: bytes, box) -> np.ndarray | None:
    """A montage tile of a crop, decoded at the smallest scale that still covers the tile."""
    data = np.frombuffer(jpg, np.uint8)
    # The crop is a portrait around the face: about PORTRAIT_WIDTH face widths wide, at most.
    width = PORTRAIT_WIDTH * (box[2] - box[0])
    flag = next(
        (
            f
            for k, f in _REDUCED
            if width / k >= MONTAGE_TILE[0] and width / PORTRAIT_ASPECT / k >= MONTAGE_TILE[1]
        ),
        cv2.IMREAD_COLOR,
    )
    image = cv2.imdecode(data, flag)
    if image is not None and (image.shape[1] < MONTAGE_TILE[0] or image.shape[0] < MONTAGE_TILE[1]):
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)  # clamped at the frame's edge: smaller
    return None if image is None else cv2.resize(image, MONTAGE_TILE, interpolation=cv2.INTER_AREA)


def write_crops(out: Path, faces: list[Face], crops: dict[str, CropRef]) -> int:
    """Write the crops and YOLO labels of `faces` from the workers' packs into OUT/noise."""
    folder = own_dir(out, NOISE_DIR)
    written = 0
    for face in faces:
        entry = crops.get(face.id)
        if entry is None:
            continue
        pack, offset, length, labels = entry
        with open(pack, "rb") as f:
            f.seek(offset)
            (folder / f"{face.id}.jpg").write_bytes(f.read(length))
        (folder / f"{face.id}.txt").write_text("\n".join(labels) + "\n")
        written += 1
    return written


def folder_montage(out: Path, folder: str) -> None:
    """Rewrite montages/<folder>.jpg from the crops the folder holds now (after a repair)."""
    crops = sorted((Path(out) / CLUSTERS_DIR / folder).glob("*.jpg"))
    path = own_dir(out, MONTAGES_DIR, create=False) / f"{folder}.jpg"
    tiles = []
    for crop in crops[: MONTAGE_GRID[0] * MONTAGE_GRID[1]]:
        image = cv2.imread(str(crop), cv2.IMREAD_REDUCED_COLOR_2)
        if image is not None:
            tiles.append(image)
    if not tiles:
        path.unlink(missing_ok=True)
        return
    own_dir(out, MONTAGES_DIR)
    rows = -(-len(tiles) // MONTAGE_GRID[0])
    _write_image(path, build_montages(tiles, MONTAGE_TILE, (MONTAGE_GRID[0], rows))[0])


def _write_image(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", image, _JPEG)
    if not ok:
        raise StoreError(f"{path}: could not encode the image")
    path.write_bytes(buf.tobytes())


def generate(
    out: Path,
    faces: list[Face],
    crops: dict[str, CropRef],
    progress: bool = True,
    names: dict[int, str] | None = None,
    replaceable: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict:
    """Write clusters/, noise/ and montages/ from the workers' crops and swap them in.

    `crops[face_id]` says where the workers left each crop and its YOLO label lines. `names`
    maps cluster labels to folder names (clusters recognised from a gallery); other clusters
    get Face_<k>; two labels with one name share the folder. Only what clusterpipe wrote
    before is replaced: Face_<k> folders, folders named from a gallery (`replaceable`), our
    crops and montages.
    """
    from tqdm import tqdm

    names = names or {}

    def folder_of(label: int) -> str:
        return names.get(label) or cluster_folder(label)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(".generate.*.tmp"):  # a stopped run's (under OUT's lock: not in use)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(prefix=".generate.", suffix=".tmp", dir=out))
    for d in (CLUSTERS_DIR, NOISE_DIR, MONTAGES_DIR):
        (stage / d).mkdir(parents=True)
    picks = _montage_picks(faces, folder_of)
    thumbs: dict[str, list[np.ndarray]] = defaultdict(list)
    written = missing = 0
    packs: dict[Path, BinaryIO] = {}
    bar = tqdm(
        total=len(faces), unit="face", desc="crops", disable=not progress, dynamic_ncols=True
    )
    try:
        for face in faces:
            bar.update(1)
            entry = crops.get(face.id)
            if entry is None:
                missing += 1
                continue
            pack, offset, length, labels = entry
            if pack not in packs:
                packs[pack] = open(pack, "rb")
            f = packs[pack]
            f.seek(offset)
            jpg = f.read(length)
            folder = (
                stage / CLUSTERS_DIR / folder_of(face.cluster)
                if face.cluster >= 0
                else stage / NOISE_DIR
            )
            folder.mkdir(exist_ok=True)
            (folder / f"{face.id}.jpg").write_bytes(jpg)
            (folder / f"{face.id}.txt").write_text("\n".join(labels) + "\n")
            written += 1
            if face.id in picks:
                tile = _tile(jpg, face.box)
                if tile is not None:
                    thumbs[folder_of(face.cluster)].append(tile)
        for folder_name, images in thumbs.items():
            rows = -(-len(images) // MONTAGE_GRID[0])  # no empty rows under a small cluster
            montage = build_montages(images, MONTAGE_TILE, (MONTAGE_GRID[0], rows))[0]
            _write_image(stage / MONTAGES_DIR / f"{folder_name}.jpg", montage)
    except OSError as e:
        shutil.rmtree(stage, ignore_errors=True)
        raise StoreError(
            f"{out}: writing crops failed ({e.strerror or e}); "
            "faces.jsonl is kept, run again to regenerate"
        ) from e
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        bar.close()
        for f in packs.values():
            f.close()
    if missing:
        log.warning("%d faces have no crop (damaged shard packs); run with --fresh", missing)
    replace = set(replaceable) | set(names.values())
    swap_in(stage, out, lambda name: is_unnamed(name) or name in replace)
    return {"crops": written, "missing_crops": missing, "montages": len(thumbs)}
