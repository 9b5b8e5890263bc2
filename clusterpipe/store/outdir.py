"""A run's folder as people see it: where each face's crop is, and the moves between places.

One model for the repair loop, the review page and the readers of a run (status, suggest,
export): a face is in a folder of OUT/clusters, in OUT/noise, in OUT/rejected, or nowhere (its
crop deleted). Moves go only into OUT's own folders and never over another file (places.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, MutableMapping
from pathlib import Path
from typing import TypeGuard

from .folders import ClusterTree, scan
from .layout import CLUSTERS_DIR, MONTAGES_DIR, NOISE_DIR, REJECTED_DIR, UNNAMED_PREFIX, is_unnamed
from .places import crops_in, face_file, face_files, move_face, next_unnamed, own_dir

# Where a face is besides a folder of OUT/clusters. A location is a folder name or one of these
# (a folder name never starts with "\0").
NOISE, REJECTED = "\0noise", "\0rejected"
Location = str


def is_folder(loc: Location | None) -> TypeGuard[str]:
    """True for a folder of OUT/clusters (not noise, rejected or nowhere)."""
    return loc is not None and not loc.startswith("\0")


def unnamed_number(folder: str) -> int:
    """n of a Face_<n> folder."""
    return int(folder[len(UNNAMED_PREFIX) :])


class OutDir:
    """A run's output folder: locate faces, move them, name new folders, tidy empty ones."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.listings: dict = {}  # scan's folders as last listed: unchanged ones are reused
        self.bad_names: dict[str, str] = {}  # as the last locate() found them: folder -> why

    @staticmethod
    def parts(loc: Location) -> tuple[str, ...]:
        """OUT's folder of a location, as path parts below OUT."""
        if loc == NOISE:
            return (NOISE_DIR,)
        if loc == REJECTED:
            return (REJECTED_DIR,)
        return (CLUSTERS_DIR, loc)

    def dir(self, loc: Location) -> Path:
        """The folder of a location."""
        return self.out.joinpath(*self.parts(loc))

    def locate(
        self, known: Collection[str], tree: ClusterTree | None = None
    ) -> dict[str, Location]:
        """Face id -> location, for every crop of the `known` faces on disk (a crop in a folder
        and in noise too: the folder's); `tree`: OUT/clusters as scan() just read it."""
        where: dict[str, Location] = {}
        for d, loc in ((REJECTED_DIR, REJECTED), (NOISE_DIR, NOISE)):
            path = self.out / d
            if path.is_dir() and not path.is_symlink():
                for fid in crops_in(path, known):
                    where[fid] = loc
        if tree is None and (self.out / CLUSTERS_DIR).is_dir():
            tree = scan(self.out, set(known), self.listings)
        self.bad_names = dict(tree.bad_names) if tree is not None else {}
        if tree is not None:
            for folder in tree.folders:
                for fid in folder.face_ids:
                    where[fid] = folder.name
        return where

    def crop(self, fid: str, loc: Location) -> Path | None:
        """A face's crop file at a location, if it is there."""
        for p in face_files(self.dir(loc), fid):
            if face_file(p.name) == (fid, True):
                return p
        return None

    def check_targets(self, locs: Iterable[Location]) -> None:
        """Refuse, before anything moves, a target that is a link or outside OUT (StoreError)."""
        for loc in set(locs):
            own_dir(self.out, *self.parts(loc), create=False)

    def move(self, fid: str, src: Location | None, dst: Location) -> None:
        """Move a face's crop and YOLO label (into OUT's own folder, never over another file)."""
        if src is not None and src != dst:
            move_face(self.out, fid, self.dir(src), self.parts(dst))

    def move_all(
        self, ids: Iterable[str], where: MutableMapping[str, Location], dst: Location
    ) -> list[tuple[str, Location, Location]]:
        """Move faces to dst, all or nothing: a move refused halfway puts back those already
        moved before the error goes up. Updates `where`; returns (face id, from, to) moved."""
        self.check_targets([dst])
        done: list[tuple[str, Location, Location]] = []
        try:
            for fid in ids:
                src = where[fid]
                if src != dst:
                    self.move(fid, src, dst)
                    done.append((fid, src, dst))
        except BaseException:
            for fid, src, _ in reversed(done):
                self.move(fid, dst, src)
            self.remove_if_empty(dst)
            raise
        for fid, _, _ in done:
            where[fid] = dst
        return done

    def remove_if_empty(
        self, loc: Location, keep: MutableMapping[str, bytes | None] | None = None
    ) -> bool:
        """Remove a folder of OUT/clusters that holds nothing any more, and its montage (with
        `keep`, the montage's bytes are kept there first, by path below OUT, for an undo)."""
        if not is_folder(loc):
            return False
        path = self.dir(loc)
        if not path.is_dir() or path.is_symlink() or any(path.iterdir()):
            return False
        path.rmdir()
        name = f"{MONTAGES_DIR}/{loc}.jpg"
        montage = self.out / name
        if montage.is_file() and not montage.is_symlink():
            if keep is not None and name not in keep:
                keep[name] = montage.read_bytes()
            montage.unlink()
        return True

    def new_unnamed(self, taken: set[int]) -> str:
        """A new Face_<n> name, free in every form in OUT/clusters, above every taken number
        (which it joins)."""
        return next_unnamed(self.out, taken)

    @staticmethod
    def taken(*locations: Iterable[Location | None], clusters: Iterable[int] = ()) -> set[int]:
        """The Face_<n> numbers in use: those of the locations given and the cluster labels
        faces.jsonl gave (kept reserved, so a new folder never reuses a number the run wrote)."""
        numbers = {c for c in clusters if c >= 0}
        for locs in locations:
            numbers |= {unnamed_number(w) for w in locs if w and is_unnamed(w)}
        return numbers
