"""Putting generated folders in place without touching what the user made.

clusterpipe removes only what it can prove it wrote: crop and label files named by a face id,
montages named after a folder it generated, and folders left empty by that; anything else in
OUT/clusters, OUT/noise or OUT/montages (the user's notes, a folder of their own, a symlink) is
left where it is.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from ..store.layout import CLUSTERS_DIR, MONTAGES_DIR, NOISE_DIR, is_generated_file

log = logging.getLogger("clusterpipe")


def _clear_folder(folder: Path) -> list[str]:
    """Remove our files from a folder (never through a symlink); rmdir it if that empties it.
    Returns the names of what was left."""
    left = []
    for entry in folder.iterdir():
        if not entry.is_symlink() and entry.is_file() and is_generated_file(entry.name):
            entry.unlink()
        else:
            left.append(entry.name)
    if not left:
        folder.rmdir()
    return left


def remove_generated(out: Path, ours: Callable[[str], bool]) -> None:
    """Remove what clusterpipe wrote in OUT: our files in the cluster folders `ours` accepts,
    in noise/, and their montages; keep everything else (and say so)."""
    clusters, noise, montages = (out / d for d in (CLUSTERS_DIR, NOISE_DIR, MONTAGES_DIR))
    kept: list[str] = []
    if clusters.is_dir() and not clusters.is_symlink():
        for entry in clusters.iterdir():
            if entry.is_dir() and not entry.is_symlink() and ours(entry.name):
                kept += [f"{CLUSTERS_DIR}/{entry.name}/{n}" for n in _clear_folder(entry)]
    if noise.is_dir() and not noise.is_symlink():
        kept += [f"{NOISE_DIR}/{n}" for n in _clear_folder(noise)]
    if montages.is_dir() and not montages.is_symlink():
        for entry in montages.iterdir():
            stem, _, suffix = entry.name.rpartition(".")
            if entry.is_file() and not entry.is_symlink() and suffix == "jpg" and ours(stem):
                entry.unlink()
    if kept:
        log.warning("left in place, not made by clusterpipe: %s", ", ".join(sorted(kept)[:5]))


def swap_in(stage: Path, out: Path, ours: Callable[[str], bool]) -> None:
    """Replace what clusterpipe wrote before with the staged clusters/, noise/, montages/.
    Every place written is OUT's own (places.own_dir): a link there is refused, with one line,
    before anything is removed or moved."""
    from ..store.places import own_dir

    try:
        for d in (CLUSTERS_DIR, NOISE_DIR, MONTAGES_DIR):
            own_dir(out, d, create=False)
            for entry in (stage / d).iterdir():
                if entry.is_dir():
                    own_dir(out, d, entry.name, create=False)
                elif (out / d / entry.name).is_symlink():
                    raise_symlink(out / d / entry.name)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    remove_generated(out, ours)
    for d in (CLUSTERS_DIR, NOISE_DIR, MONTAGES_DIR):
        target = own_dir(out, d)
        for entry in (stage / d).iterdir():
            dest = target / entry.name
            if entry.is_dir() and dest.is_dir() and not dest.is_symlink():
                for f in entry.iterdir():  # a folder the user kept files in: add ours beside
                    f.replace(dest / f.name)
                entry.rmdir()
            else:
                entry.replace(dest)
    shutil.rmtree(stage, ignore_errors=True)


def raise_symlink(path: Path) -> None:
    from ..errors import StoreError

    raise StoreError(f"{path} is a symlink; clusterpipe does not write through links")
