"""Where clusterpipe writes in OUT, and what a face's files are: the one rule every writer uses.

OUT's own folders (clusters/<name>, noise, rejected, montages) are written only where they
really are: a folder that is a link, or that resolves outside OUT, is refused with one line and
nothing is moved. A face's files are its crop (<face id> + a crop suffix, in any letter case)
and its YOLO label (<face id>.txt); a move never overwrites another file.
"""

from __future__ import annotations

import filecmp
import os
from collections.abc import Collection
from pathlib import Path

from ..errors import StoreError
from .layout import CLUSTERS_DIR, CROP_SUFFIXES, LABEL_SUFFIX, cluster_folder


def own_dir(out: Path, *parts: str, create: bool = True) -> Path:
    """OUT/<parts...> if every level below OUT is a real folder (not a link) inside OUT; made
    where missing when `create`. A one-line StoreError otherwise."""
    out = Path(out)
    path = out
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\x00" in part:
            raise StoreError(f"{part!r} is not a folder name clusterpipe writes")
        path = path / part
        if path.is_symlink():
            raise StoreError(
                f"{path} is a link; clusterpipe writes only in OUT's own folders, never through "
                "a link (to keep it on another disk, put all of OUT there instead)"
            )
        if path.exists():
            if not path.is_dir():
                raise StoreError(f"{path} is a file, not a folder; move it away and try again")
        elif create:
            path.mkdir()
        else:
            return path
    real_out = out.resolve()
    if path.resolve() != real_out and real_out not in path.resolve().parents:
        raise StoreError(f"{path} resolves outside {out}; clusterpipe writes only inside OUT")
    return path


def face_file(name: str) -> tuple[str, bool] | None:
    """(face id, is it the crop) of a file name that is a face's crop or label; None if not."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return None
    suffix = f".{ext.lower()}"
    if suffix in CROP_SUFFIXES:
        return stem, True
    if suffix == LABEL_SUFFIX:
        return stem, False
    return None


def crops_in(folder: Path, known: Collection[str]) -> list[str]:
    """Ids of the `known` faces whose crop (a regular file, not a link) is in a folder."""
    with os.scandir(folder) as it:
        return [
            kind[0]
            for e in it
            if (kind := face_file(e.name))
            and kind[1]
            and kind[0] in known
            and not e.is_symlink()
            and e.is_file()
        ]


def face_files(folder: Path, fid: str) -> list[Path]:
    """The regular files (not links) of a face in a folder: its crop and label."""
    suffixes = (*CROP_SUFFIXES, LABEL_SUFFIX)
    names = [fid + s for s in suffixes] + [fid + s.upper() for s in suffixes]
    found = {folder / n for n in names if (folder / n).is_file() and not (folder / n).is_symlink()}
    if not any(face_file(p.name) == (fid, True) for p in found) and folder.is_dir():
        # a suffix in mixed case (.Jpg): the rare case, worth one listing of the folder
        with os.scandir(folder) as it:
            found |= {
                Path(e.path)
                for e in it
                if not e.is_symlink() and e.is_file() and (face_file(e.name) or ("",))[0] == fid
            }
    return sorted(found)


def move_face(out: Path, fid: str, src: Path, dst_parts: tuple[str, ...]) -> bool:
    """Move a face's crop and label from folder `src` into OUT's own folder `dst_parts`.
    Refuses (StoreError, nothing moved) where a different file of that face's name is there;
    returns whether anything moved."""
    files = face_files(src, fid)
    if not files:
        return False
    dst = own_dir(out, *dst_parts)
    for f in files:
        there = dst / f.name
        if os.path.lexists(there) and not (
            there.is_file() and not there.is_symlink() and filecmp.cmp(f, there, shallow=False)
        ):
            raise StoreError(
                f"{there} is in the way: a file of that name that is not this face's crop or "
                "label; move or rename it, then try again"
            )
    clash = [p for p in face_files(dst, fid) if p.name not in {f.name for f in files}]
    if any(face_file(p.name) == (fid, True) for p in clash) and any(
        face_file(f.name) == (fid, True) for f in files
    ):
        raise StoreError(f"{clash[0]}: another crop of face {fid} is already there; keep one")
    for f in files:
        f.replace(dst / f.name)
    return True


def next_unnamed(out: Path, taken: set[int]) -> str:
    """A new Face_<n> folder name: the first number above every taken one whose name
    OUT/clusters does not hold in any form (folder, file or link); the number joins `taken`."""
    n = max(taken, default=-1) + 1
    while os.path.lexists(Path(out) / CLUSTERS_DIR / cluster_folder(n)):
        n += 1
    taken.add(n)
    return cluster_folder(n)
