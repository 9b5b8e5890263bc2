"""The filesystem is the truth: read people's names and faces from OUT/clusters/."""

from __future__ import annotations

import logging
import os
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadNameError, ClusterpipeError
from .layout import CLUSTERS_DIR, MONTAGES_DIR, NOISE_DIR, REJECTED_DIR, SHARDS_DIR, is_unnamed
from .places import crops_in, face_file

log = logging.getLogger("clusterpipe")

MAX_NAME = 100
MAX_NAME_BYTES = 200  # a file name may hold 255 bytes: room for suffixes such as ".jpg"
_PUNCT = set(" .'-_")


def check_name(name: str) -> str:
    """The person's name of a folder, NFC-normalised (macOS writes names decomposed, NFD), if
    it is a safe name: letters of any script with their marks, digits, space . ' - _; raise
    with what to change otherwise."""
    if not isinstance(name, str) or not name:
        raise BadNameError("a person's name cannot be empty")
    if "\x00" in name or "/" in name or "\\" in name:
        raise BadNameError(f"name {name!r} contains / \\ or NUL; use letters, digits, . ' - _")
    name = unicodedata.normalize("NFC", name)
    if len(name) > MAX_NAME or len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise BadNameError(
            f"name {name[:20]!r}... is too long: at most {MAX_NAME} characters and "
            f"{MAX_NAME_BYTES} bytes in UTF-8"
        )
    if name in (".", "..") or name.startswith("."):
        raise BadNameError(f"name {name!r} starts with a dot; start it with a letter or digit")
    kinds = [unicodedata.category(c)[0] for c in name]
    bad = [c for c, k in zip(name, kinds) if k not in "LMN" and c not in _PUNCT]
    if bad or kinds[0] not in "LN" or name != name.strip():
        raise BadNameError(
            f"name {name!r} has characters other than letters, digits, space . ' - _, "
            "or leading/trailing spaces (it must start with a letter or digit)"
        )
    if ignored(name):  # a folder of that name is one every listing skips: its faces would vanish
        raise BadNameError(f"name {name!r} is a name tools give their own files; choose another")
    return name


def spelled_on_disk(out: Path, name: str) -> str:
    """The folder of OUT/clusters that holds this person's name however it was typed (NFC or
    NFD, as macOS writes it): its spelling on disk, or the name NFC-normalised if none does."""
    want = unicodedata.normalize("NFC", name)
    root = Path(out) / CLUSTERS_DIR
    if (root / want).is_dir() and not (root / want).is_symlink():
        return want
    if root.is_dir():
        with os.scandir(root) as it:
            for e in it:
                if unicodedata.normalize("NFC", e.name) == want and not e.is_symlink():
                    return e.name
    return want


def no_case_twin(out: Path, name: str, src: str | None = None) -> str:
    """A new folder's name, refused (BadNameError) where another folder of OUT/clusters but
    `src` differs from it only by case (`zoë` beside `Zoë`): one person in two folders."""
    root = Path(out) / CLUSTERS_DIR
    if (root / name).is_dir() or not root.is_dir():
        return name
    key = unicodedata.normalize("NFC", name).casefold()
    for e in os.scandir(root):
        if e.is_dir() and e.name != src and unicodedata.normalize("NFC", e.name).casefold() == key:
            raise BadNameError(
                f"{e.name} exists, which differs from {name} only by case: type {e.name} to "
                "merge into it, or choose another name"
            )
    return name


def ignored(entry: str) -> bool:
    """Files and folders that tools leave (.DS_Store, .ipynb_checkpoints, __MACOSX...): not a
    person, not a problem."""
    return entry.startswith(".") or entry in ("__MACOSX", "Thumbs.db", "desktop.ini", "@eaDir")


@dataclass
class Folder:
    """One folder of OUT/clusters: its name and the face ids of the crops it holds."""

    name: str  # as on disk
    named: bool
    face_ids: list[str] = field(default_factory=list)

    @property
    def person(self) -> str:
        """The person's name: the folder's, NFC-normalised (the same name however it was typed)."""
        return unicodedata.normalize("NFC", self.name)


@dataclass
class ClusterTree:
    """What the user's folders say, plus everything odd about them."""

    folders: list[Folder] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)  # files whose face id is unknown
    bad_names: dict[str, str] = field(default_factory=dict)  # folder -> why
    skipped_links: list[str] = field(default_factory=list)
    in_two_folders: list[str] = field(default_factory=list)  # face ids copied, not moved

    @property
    def named(self) -> list[Folder]:
        return [f for f in self.folders if f.named]


# A folder listed by scan is reused while its inode and mtime are those of the listing and it
# had not changed for this long before it was listed: a change within a timestamp's resolution
# of the listing could otherwise leave the mtime as it was (the "racy git" problem).
SETTLED_NS = 1_000_000_000


@dataclass
class _Listing:
    """One folder's files as scan classifies them, before they are matched to face ids."""

    stat: tuple[int, int]  # (inode, mtime ns) when listed
    listed_ns: int
    # (kind, face id, file name) in name order; kind: crop (a regular crop file), link, folder,
    # or other (no face's crop or label)
    files: list[tuple[str, str, str]]


def _list(path: Path, stat: tuple[int, int]) -> _Listing:
    listed_ns = time.time_ns()
    listing = _Listing(stat, listed_ns, [])
    # os.scandir: its entries know whether they are links or files without another stat
    # (a run's folders hold 10,000s of crops and the review page scans them every action).
    with os.scandir(path) as it:
        files = sorted(it, key=lambda e: e.name)
    for f in files:
        if ignored(f.name):
            continue
        kind = face_file(f.name)
        if f.is_symlink():
            listing.files.append(("link", "", f.name))
        elif f.is_dir():
            listing.files.append(("folder", "", f.name))
        elif kind and kind[1] and f.is_file():
            listing.files.append(("crop", kind[0], f.name))
        elif not kind or kind[1]:  # a face's label beside its crop is expected
            listing.files.append(("other", "", f.name))
    return listing


FACE_DIRS = (CLUSTERS_DIR, NOISE_DIR, REJECTED_DIR)  # a run's folders of faces


def check_outside_run(out: Path, path: str | Path, what: str) -> None:
    """Refuse to write `what` (a gallery, a dataset) into a run's own folders, where its files
    would read as the run's or go when the run rewrites them: OUT itself, its clusters, noise,
    rejected faces, shards and montages."""
    where = Path(path).resolve()
    dirs = [*FACE_DIRS, SHARDS_DIR, MONTAGES_DIR]
    own = [Path(out).resolve(), *((Path(out) / d).resolve() for d in dirs)]
    if where == own[0] or any(where.is_relative_to(d) for d in own[1:]):
        raise ClusterpipeError(
            f"{path}: {what} cannot live in the run's own folders (its files would read as the "
            f"run's, or be replaced); choose a folder outside {', '.join(f'OUT/{d}' for d in dirs)}"
        )


def bad_folder_error(out: Path, bad_names: dict[str, str]) -> ClusterpipeError:
    """The one-line error of a command that cannot act while a folder is as bad_names says."""
    name, why = next(iter(bad_names.items()))
    return ClusterpipeError(f"{out}: folder {name!r}: {why}; rename or move it first")


def _holds_faces(entry: Path, known_ids: set[str]) -> bool:
    """Whether a real folder holds a crop of one of the run's faces."""
    return not entry.is_symlink() and entry.is_dir() and bool(crops_in(entry, known_ids))


def scan(out: Path, known_ids: set[str], cache: dict[str, _Listing] | None = None) -> ClusterTree:
    """Read OUT/clusters: folders, their crops mapped to face ids; symlinks are not followed.
    With `cache` (kept by the caller between scans), folders unchanged since they were last
    listed are not listed again."""
    root = Path(out) / CLUSTERS_DIR
    tree = ClusterTree()
    seen: set[str] = set()
    if not root.is_dir():
        raise ClusterpipeError(f"{root}: not found; run `clusterpipe run` first")
    for entry in sorted(root.iterdir()):
        if ignored(entry.name):
            if _holds_faces(entry, known_ids):  # renamed so: its faces would vanish unsaid
                tree.bad_names[entry.name] = (
                    f"name {entry.name!r} is one tools give their own files and every listing "
                    "skips; rename the folder"
                )
            continue
        if entry.is_symlink():
            tree.skipped_links.append(str(entry.relative_to(out)))
            continue
        if not entry.is_dir():
            tree.unmapped.append(str(entry.relative_to(out)))
            continue
        named = not is_unnamed(entry.name)
        if named:
            try:
                check_name(entry.name)
            except BadNameError as e:
                tree.bad_names[entry.name] = str(e)
                continue
        folder = Folder(entry.name, named)
        st = entry.stat()
        key = (st.st_ino, st.st_mtime_ns)
        listing: _Listing | None = cache.get(entry.name) if cache is not None else None
        if (
            listing is None
            or listing.stat != key
            or st.st_mtime_ns > listing.listed_ns - SETTLED_NS
        ):
            listing = _list(entry, key)
            if cache is not None:
                cache[entry.name] = listing
        where = f"{CLUSTERS_DIR}/{entry.name}"
        for kind, stem, name in listing.files:
            if kind == "link":
                tree.skipped_links.append(f"{where}/{name}")
            elif kind == "folder" and _holds_faces(entry / name, known_ids):
                tree.bad_names[f"{entry.name}/{name}"] = (
                    f"a folder of faces inside {entry.name!r} (`mv` onto an existing name "
                    f"nests it): move its files up into {entry.name!r}, or it back to "
                    f"{CLUSTERS_DIR}/"
                )
            elif kind in ("other", "folder"):
                tree.unmapped.append(f"{where}/{name}")
            elif stem in seen:
                tree.in_two_folders.append(stem)
            elif stem in known_ids:
                seen.add(stem)
                folder.face_ids.append(stem)
            else:
                tree.unmapped.append(f"{where}/{name}")
        tree.folders.append(folder)
    if cache is not None:  # folders gone or renamed since: forgotten
        for gone in set(cache) - {f.name for f in tree.folders}:
            del cache[gone]
    return tree
