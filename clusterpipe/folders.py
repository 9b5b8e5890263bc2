"""The filesystem is the truth: read people's names and faces from OUT/clusters/."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadNameError, ClusterpipeError
from .layout import CLUSTERS_DIR, CROP_SUFFIXES, is_unnamed

log = logging.getLogger("clusterpipe")

MAX_NAME = 100
_NAME = re.compile(r"^\w[\w .'-]*$")


def check_name(name: str) -> str:
    """Return `name` if it is a safe person name; raise with what to change otherwise."""
    if not isinstance(name, str) or not name:
        raise BadNameError("a person's name cannot be empty")
    if len(name) > MAX_NAME:
        raise BadNameError(f"name {name[:20]!r}... has {len(name)} characters; at most {MAX_NAME}")
    if "\x00" in name or "/" in name or "\\" in name:
        raise BadNameError(f"name {name!r} contains / \\ or NUL; use letters, digits, . ' - _")
    if name in (".", "..") or name.startswith("."):
        raise BadNameError(f"name {name!r} starts with a dot; start it with a letter or digit")
    if not _NAME.match(name) or name != name.strip():
        raise BadNameError(
            f"name {name!r} has characters other than letters, digits, space . ' - _, "
            "or leading/trailing spaces"
        )
    return name


@dataclass
class Folder:
    """One folder of OUT/clusters: its name and the face ids of the crops it holds."""

    name: str
    named: bool
    face_ids: list[str] = field(default_factory=list)


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


def scan(out: Path, known_ids: set[str]) -> ClusterTree:
    """Read OUT/clusters: folders, their crops mapped to face ids; symlinks are not followed."""
    root = Path(out) / CLUSTERS_DIR
    tree = ClusterTree()
    seen: set[str] = set()
    if not root.is_dir():
        raise ClusterpipeError(f"{root}: not found; run `clusterpipe run` first")
    for entry in sorted(root.iterdir()):
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
        for f in sorted(entry.iterdir()):
            if f.is_symlink():
                tree.skipped_links.append(str(f.relative_to(out)))
            elif f.suffix.lower() in CROP_SUFFIXES and f.is_file():
                if f.stem in seen:
                    tree.in_two_folders.append(f.stem)
                elif f.stem in known_ids:
                    seen.add(f.stem)
                    folder.face_ids.append(f.stem)
                else:
                    tree.unmapped.append(str(f.relative_to(out)))
            elif f.suffix != ".txt":
                tree.unmapped.append(str(f.relative_to(out)))
        tree.folders.append(folder)
    return tree
