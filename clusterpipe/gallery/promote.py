"""Promote named folders into a gallery, list and remove its people."""

from __future__ import annotations

import logging
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import IndexSettings
from ..errors import ClusterpipeError
from ..people.status import RunFolder
from ..store.folders import bad_folder_error, check_name, check_outside_run
from ..store.layout import is_generated_file
from ..store.records import person_space
from ..store.writing import refuse_if_interrupted
from .checks import owned, warn_case_twins, warn_look_alikes, warn_two_names
from .index import IndexPlan
from .store import Gallery, locked

log = logging.getLogger("clusterpipe")


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
    refuse_if_interrupted(run.out)
    check_outside_run(run.out, gallery_dir, "a gallery")
    if run.tree.bad_names:
        raise bad_folder_error(run.out, run.tree.bad_names)
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
    for line in run.seen_together():
        log.warning("%s", line)
    pairs = list(run.named_faces())
    if not pairs and not Gallery.exists(gallery_dir):
        raise ClusterpipeError(
            f"{run.out} has no named folders to promote: rename a folder to the person's name "
            "(say Face_0 to alice), then promote"
        )
    with locked(gallery_dir, create=True, encoder=run.encoder, repair=True) as g:
        g.require(run.encoder, f"run {run.out}")
        here = str(run.out.resolve())
        mine = owned(g.entries, run.run_id, here)
        old = {(e["face_id"], e["name"]) for e, m in zip(g.entries, mine) if m}
        new = {(f.id, name) for name, f in pairs}
        keep = np.array(
            [not m or (e["face_id"], e["name"]) in new for e, m in zip(g.entries, mine)],
            dtype=bool,
        )
        moved = False  # entries kept from this run's earlier id or folder now name these
        for e, m, k in zip(g.entries, mine, keep):
            if m and k and (e["run"], e.get("out")) != (run.run_id, here):
                e["run"], e["out"], moved = run.run_id, here, True
        fresh = [(name, f) for name, f in pairs if (f.id, name) not in old]
        entries = [
            {
                "name": name,
                "run": run.run_id,
                "out": here,
                "video": f.video,
                "time_s": f.time_s,
                "face_id": f.id,
            }
            for name, f in fresh
        ]
        vectors = person_space([f for _, f in fresh], run.encoder).astype(np.float32)
        warn_two_names(
            g.entries, g.vectors(), ~mine, [(n, f.id, v) for (n, f), v in zip(fresh, vectors)]
        )
        warn_case_twins(
            [e["name"] for e, m in zip(g.entries, mine) if not m], [name for name, _ in pairs]
        )
        warn_look_alikes(
            g.entries,
            g.vectors(),
            ~mine,
            [name for name, _ in pairs],
            person_space([f for _, f in pairs], run.encoder),
            g.radius,
        )
        back = sorted({name for name, _ in fresh} & set(g.removed))
        for name in back:
            log.warning(
                "%r was taken out of the gallery with `gallery --remove`; this promote adds "
                "them again (rename or delete their folder in %s to keep them out)",
                name,
                run.out,
            )
        g.removed = [n for n in g.removed if n not in back]
        changed = fresh or moved or back or g.rebuilt or not keep.all()
        if changed or (index is not None and index != g.settings):
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
        g.removed = sorted({*g.removed, name})
        g.save()
        return int((~keep).sum())
