"""What the review page shows and does: a run's folders read from disk, and each action as a
change of the files under OUT (the files stay the truth), undoable.

Every action holds OUT's lock, so a CLI command running on the same OUT makes it fail with
BusyError instead of racing. Face ids and folder names come from requests: ids are looked up
among the run's own faces and folders among the folders on disk, new names pass check_name,
so no path built from a request leaves OUT.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..errors import BadNameError, ClusterpipeError
from ..people.runview import load_view
from ..store.atomic import atomic_open
from ..store.folders import check_name, ignored, no_case_twin, spelled_on_disk
from ..store.layout import (
    CLUSTERS_DIR,
    FACES_FILE,
    MONTAGES_DIR,
    NOISE_DIR,
    REJECTED_DIR,
    is_unnamed,
)
from ..store.lock import Lock
from ..store.outdir import NOISE, REJECTED, OutDir
from ..store.places import own_dir
from ..store.records import Face
from ..store.runinfo import file_bytes, run_file_bytes
from ..store.writing import refuse_if_interrupted
from .changes import WAIT_SECONDS, Change, changing, take_back

UNDO_DEPTH = 50


class StalePage(ClusterpipeError):
    """The page named a folder that is no longer there (renamed from another tab or a shell)."""


class Review:
    """A run's folders for the review page; each public method is one API call."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.dir = OutDir(self.out)
        if not (self.out / FACES_FILE).is_file():
            raise ClusterpipeError(f"{self.out}: no faces.jsonl; run `clusterpipe run` first")
        refuse_if_interrupted(self.out)
        self._faces_key: tuple | None = None
        self.faces_digest = ""  # of faces.jsonl as last read: undo knows another command wrote it
        self.faces: list[Face] = []
        self.by_id: dict[str, int] = {}
        self.space = np.zeros((0, 0))
        self.tracks = np.zeros(0, dtype=np.int64)
        self.eps = 0.0
        self.history: list[Change] = []
        self.skipped: set[str] = set()  # questions skipped this session: not asked again
        self.memo: dict = {}  # what answers.py computed for the folders as they were
        self._where: dict[str, str] = {}  # the last locations(), for serving crops quickly
        # Each folder's faces as last listed, and the version at which each last changed: a
        # page says which version it holds (`seen`), and gets every folder changed since, made
        # by any tab or a terminal.
        self._listed: dict[str, list[str]] | None = None
        self._changed: dict[str, int] = {}
        self.version = 0
        self.seen: int | None = None  # the version the page asking holds (set per request)
        self._load()  # a damaged faces.jsonl is an error now, not on the page

    # ---- reading -------------------------------------------------------------------------

    def _load(self) -> None:
        """(Re)read faces.jsonl when it changed on disk (split and recluster rewrite it)."""
        st = (self.out / FACES_FILE).stat()
        key = (st.st_mtime_ns, st.st_size)
        if key == self._faces_key:
            return
        # The run's own person space and radius (adapted and calibrated where the run was), as
        # split and recluster use them.
        view = load_view(self.out)
        self.faces_digest = hashlib.sha1(file_bytes(self.out / FACES_FILE) or b"").hexdigest()
        self.faces, self.by_id = view.faces, view.by_id
        self.space, self.eps = view.space, view.radius
        self.tracks = view.tracks  # computed for the space already: the preview shows them
        self._faces_key = key

    def locations(self) -> dict[str, str]:
        """Face id -> folder name, NOISE or REJECTED, for every crop of this run on disk."""
        self._load()
        where = self.dir.locate(self.by_id)
        self._where = where
        return where

    def _face(self, fid: str, outlier: bool = False) -> dict:
        f = self.faces[self.by_id[fid]]
        d = {"id": fid, "url": f"/face/{quote(fid)}", "time_s": f.time_s, "video": f.video}
        if outlier:
            d["outlier"] = True
        return d

    def snapshot(self) -> dict:
        """state() under OUT's lock: BusyError while a CLI command is changing the folders."""
        with Lock(self.out, wait=WAIT_SECONDS):
            return self.state()

    def state(self, only: set[str] | None = None, where: dict[str, str] | None = None) -> dict:
        """The page's data: folders (named first, then unnamed by size; each folder's likely
        mistakes first), noise and rejected faces. With `only`, just those folders; `where`:
        the faces' locations as an action left them (read from disk otherwise)."""
        if where is None:
            where = self.locations()
        else:
            self._load()
            self._where = where
        members: dict[str, list[str]] = {}
        for fid in self.by_id:  # faces.jsonl order: time order within a video
            if fid in where:
                members.setdefault(where[fid], []).append(fid)
        folders = {k: v for k, v in members.items() if k not in (NOISE, REJECTED)}
        for name in self._empty_folders():
            folders.setdefault(name, [])
        # The page gets the folders an action touched, and any changed since the version it
        # holds (another tab's action, a `mv` in a terminal): its copy stays the folders on disk.
        now = {k: members.get(k, []) for k in (*folders, NOISE, REJECTED)}
        if self._listed is not None:
            moved = {k for k in {*now, *self._listed} if self._listed.get(k) != now.get(k)}
            if moved:
                self.version += 1
                self._changed.update(dict.fromkeys(moved, self.version))
            if only is not None:
                seen = self.seen if self.seen is not None else self.version - bool(moved)
                if seen > self.version:  # a page from before the server restarted: everything
                    only = None
                else:
                    only = only | {k for k in now if self._changed.get(k, 0) > seen}
        self._listed = now
        self.seen = None
        order = sorted(  # named by name, then unnamed by size
            folders,
            key=lambda k: (is_unnamed(k), -len(folders[k]) if is_unnamed(k) else 0, k.casefold()),
        )
        named = [k for k in folders if not is_unnamed(k) and folders[k]]
        centres = np.array([self.space[self._idx(folders[k])].mean(axis=0) for k in named])
        # Faces in a folder with a bad name (or nested) are not shown: the page says where.
        problems = [f"{n}: {why}" for n, why in self.dir.bad_names.items()]
        out: dict = {"order": order, "folders": [], "problems": problems, "version": self.version}
        for name in order:
            if only is not None and name not in only:
                continue
            ids, flags = self._outliers_first(folders[name], named, centres, name)
            out["folders"].append(
                {
                    "name": name,
                    "named": not is_unnamed(name),
                    "faces": [self._face(i, o) for i, o in zip(ids, flags)],
                }
            )
        if only is None or NOISE in only:
            out["noise"] = [self._face(i) for i in members.get(NOISE, [])]
        if only is None or REJECTED in only:
            out["rejected"] = [self._face(i) for i in members.get(REJECTED, [])]
        return out

    def _idx(self, ids: list[str]) -> np.ndarray:
        return np.array([self.by_id[i] for i in ids], dtype=np.int64)

    def _outliers_first(self, ids, named, centres, name) -> tuple[list[str], list[bool]]:
        """A folder's faces, farthest from its mean first; flagged when nearer another named
        person's mean, or farther than the space's radius from its own."""
        if len(ids) < 3:
            return list(ids), [False] * len(ids)
        x = self.space[self._idx(ids)]
        own = np.linalg.norm(x - x.mean(axis=0), axis=1)
        flag = own > self.eps
        if len(named):
            others = [k for k, n in enumerate(named) if n != name]
            if others:
                d = np.linalg.norm(x[:, None] - centres[others][None], axis=2).min(axis=1)
                flag |= d < own
        order = np.lexsort((-own, ~flag))
        return [ids[k] for k in order], [bool(flag[k]) for k in order]

    def _empty_folders(self) -> list[str]:
        root = self.out / CLUSTERS_DIR
        if not root.is_dir():
            return []
        return [
            p.name
            for p in root.iterdir()
            if p.is_dir() and not p.is_symlink() and not ignored(p.name) and not any(p.iterdir())
        ]

    def crop(self, fid: str) -> Path | None:
        """The crop file of a face of this run, wherever it is now (None if unknown)."""
        self._load()
        if fid not in self.by_id:
            return None
        for where in (self._where, None):  # the crop moved since: look again
            loc = (where if where is not None else self.locations()).get(fid)
            crop = None if loc is None else self.dir.crop(fid, loc)
            if crop is not None:
                return crop
        return None

    # ---- actions -------------------------------------------------------------------------

    def _faces_at(self, ids, where: dict[str, str]) -> list[str]:
        if not isinstance(ids, list) or not ids:
            raise ClusterpipeError("no faces given: select faces first")
        bad = [i for i in ids if not isinstance(i, str) or i not in where]
        if bad:
            raise ClusterpipeError(f"unknown face {str(bad[0])[:40]!r}; reload the page")
        return list(dict.fromkeys(ids))

    def _folder(self, name: object) -> str:
        """An existing folder of OUT/clusters, matched against the listing (no path built)."""
        root = self.out / CLUSTERS_DIR
        names = {p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink()}
        if not isinstance(name, str) or name not in names:
            if not isinstance(name, str) or name in (".", "..") or {"/", "\\", "\0"} & set(name):
                raise ClusterpipeError(f"no folder {str(name)[:40]!r} in {root}")
            raise StalePage(f"no folder {str(name)[:40]!r} in {root}; reload the page")
        return name

    def _new_unnamed(self, where: dict[str, str]) -> str:
        taken = OutDir.taken(where.values(), clusters=(f.cluster for f in self.faces))
        return self.dir.new_unnamed(taken)

    def _target(self, to, where: dict[str, str]) -> str:
        """A folder to move into: an existing one, a valid new name, or a new Face_<n>."""
        if to is None or to == "":
            return self._new_unnamed(where)
        if not isinstance(to, str):
            raise BadNameError("a folder name must be a string")
        return no_case_twin(self.out, spelled_on_disk(self.out, check_name(to)))

    def _record(self, change: Change, before: set[str]) -> None:
        """Keep the change for undo, with the top folders of OUT it created."""
        change.made = [d for d in self._top_folders() if d not in before]
        self._load()
        change.faces = self.faces_digest
        self.history = [*self.history[-(UNDO_DEPTH - 1) :], change]

    def _top_folders(self) -> set[str]:
        return {d for d in (NOISE_DIR, REJECTED_DIR, MONTAGES_DIR) if (self.out / d).is_dir()}

    def _apply_moves(self, change: Change, ids, where, dst: str) -> set[str]:
        """Move faces to dst, all or nothing: a move refused halfway (a file in the way) puts
        back the ones already moved before the error goes up."""
        done = self.dir.move_all(ids, where, dst)
        change.moves += done
        touched = {dst} | {src for _, src, _ in done}
        for loc in touched:
            self.dir.remove_if_empty(loc, keep=change.files)  # undo puts its montage back
        return touched

    def _move_all(self, action: str, faces: object, dst) -> dict:
        """One action that moves faces to one place (`dst(where)` names it), undoably."""
        with changing(self.out):
            before = self._top_folders()
            where = self.locations()
            ids = self._faces_at(faces, where)
            change = Change(action)
            touched = self._apply_moves(change, ids, where, dst(where))
            self._record(change, before)
            return self.state(touched, where)

    def move(self, faces: object, to: object) -> dict:
        """Move faces to a folder (a new name makes it; none: a new Face_<n>)."""
        return self._move_all("move", faces, lambda where: self._target(to, where))

    def reject(self, faces: object) -> dict:
        """Move faces to OUT/rejected: out of every folder, restorable by moving them back."""
        return self._move_all("reject", faces, lambda where: REJECTED)

    def to_noise(self, faces: object) -> dict:
        """Send faces back to OUT/noise (no person: the next recluster may cluster them)."""
        return self._move_all("noise", faces, lambda where: NOISE)

    def rename(self, folder: object, to: object) -> dict:
        """Rename a folder; a name that exists merges the folder into it."""
        with changing(self.out):
            before = self._top_folders()
            where = self.locations()
            src = self._folder(folder)
            if not isinstance(to, str):
                raise BadNameError("a person's name cannot be empty")
            dst = spelled_on_disk(self.out, check_name(to))  # one person however typed
            dst = no_case_twin(self.out, dst, src)
            if dst == src:
                return self.state({src}, where)
            change = Change("rename")
            target = own_dir(self.out, CLUSTERS_DIR, dst, create=False)  # never a link
            if target.exists():
                ids = [i for i, w in where.items() if w == src]
                touched = self._apply_moves(change, ids, where, dst)
            else:
                os.rename(self.dir.dir(src), self.dir.dir(dst))
                change.renamed = (src, dst)
                touched = {src, dst}
                where.update({i: dst for i, w in where.items() if w == src})
            self._record(change, before)
            return self.state(touched, where)

    def split(self, folder: object, into: object = None) -> dict:
        """Split a folder into new Face_<n> folders (the repair loop's split), into `into`
        groups if given."""
        from ..people.repair import split_locked

        if into is not None and (isinstance(into, bool) or not isinstance(into, int) or into < 2):
            raise ClusterpipeError("into must be a whole number of 2 or more")
        with changing(self.out):
            where = self.locations()
            name = self._folder(folder)
            do = lambda: split_locked(self.out, name, into)  # noqa: E731
            return self._rewrite("split", do, where)

    def recluster(self) -> dict:
        """Re-cluster every face that is not in a named folder (the repair loop's recluster)."""
        from ..people.repair import recluster_locked

        with changing(self.out):
            where = self.locations()
            do = lambda: recluster_locked(self.out, None, False)  # noqa: E731
            return self._rewrite("recluster", do, where)

    def _rewrite(self, action: str, do, where: dict[str, str]) -> dict:
        folders_before = self._top_folders()
        before = run_file_bytes(self.out)
        do()
        after_files = run_file_bytes(self.out)
        # Keep what undo needs: every file the action changed, made (None) or removed.
        files = {n: before.get(n) for n in {*before, *after_files}}
        files = {n: b for n, b in files.items() if b != after_files.get(n)}
        after = self.locations()
        change = Change(action, files=files, after={n: after_files.get(n) for n in files})
        change.moves = [(i, w, after[i]) for i, w in where.items() if after.get(i, w) != w]
        self._record(change, folders_before)
        return self.state(where=after)

    def restore(self, files: dict[str, bytes | None]) -> None:
        """Put files of OUT back as they were (None: there was none)."""
        for name, data in files.items():
            path = self.out / name
            if data is None:
                path.unlink(missing_ok=True)
            else:
                own_dir(self.out, *Path(name).parts[:-1])  # montages/: OUT's own
                with atomic_open(path, "wb") as f:
                    f.write(data)

    def undo(self) -> dict:
        """Put back what the last action changed (faces the user moved since stay put)."""
        with changing(self.out):
            if not self.history:
                raise ClusterpipeError("nothing to undo")
            change = self.history[-1]
            self._load()
            if change.faces is not None and change.faces != self.faces_digest:
                raise ClusterpipeError(
                    f"cannot undo the {change.action}: another command (recluster, split, run) "
                    "rewrote the run since; nothing was undone"
                )
            changed = [n for n, b in change.after.items() if file_bytes(self.out / n) != b]
            if changed:  # putting the files back would undo what was written since
                raise ClusterpipeError(
                    f"cannot undo the {change.action}: {', '.join(sorted(changed))} changed "
                    "since (another tab or command); nothing was undone"
                )
            where = self.locations()
            if change.moves and not change.renamed and not change.files:
                if not any(where.get(fid) == dst for fid, _, dst in change.moves):
                    raise ClusterpipeError(
                        f"cannot undo the {change.action}: its faces have moved since (a folder "
                        "renamed or moved); nothing was undone"
                    )
            if change.renamed and self.dir.dir(change.renamed[0]).exists():
                raise ClusterpipeError(
                    f"cannot undo the rename: {change.renamed[0]} exists again; move it away "
                    "and undo again"
                )  # kept in the history: the user can clear the way and try again
            if change.said:  # first: if the file cannot be read, nothing is undone yet
                take_back(self.out, *change.said)
            self.history.pop()
            touched: set[str] = set()
            if change.renamed:
                old, new = change.renamed
                os.rename(self.dir.dir(new), self.dir.dir(old))
                touched |= {old, new}
                where = self.locations()  # the faces of the folder renamed back
            for fid, src, dst in reversed(change.moves):
                if where.get(fid) == dst:
                    self.dir.move(fid, dst, src)
                    where[fid] = src
                    touched |= {src, dst}
            for loc in touched:
                self.dir.remove_if_empty(loc)
            self.restore(change.files)
            for d in change.made:  # a folder the action made, empty again: gone again
                path = self.out / d
                if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
                    path.rmdir()
            return self.state(None if change.files else touched, where)
