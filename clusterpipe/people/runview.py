"""A run as its files show it now, and as clusterpipe last wrote it (for the repair loop)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from ..cluster.clusterer import PersonSpace, face_tracks, person_space_of
from ..config import ClusterSettings
from ..errors import ClusterpipeError, StoreError
from ..store.files import read_faces
from ..store.folders import scan
from ..store.layout import FACES_FILE, LOCK_FILE, RUN_FILE, UNNAMED_PREFIX
from ..store.lock import Lock
from ..store.outdir import NOISE, REJECTED, OutDir
from ..store.records import Face
from ..store.runinfo import RunInfo, attach_vectors, read_run_info
from ..store.shards import load_samples

log = logging.getLogger("clusterpipe")


@dataclass
class RunView:
    """A run as the files show it now, and as clusterpipe last wrote it."""

    out: Path
    faces: list[Face]
    by_id: dict[str, int]
    now: dict[str, str | None]  # face id -> folder, NOISE, or None (crop deleted)
    last: dict[str, str]  # face id -> folder (or NOISE) as faces.jsonl says
    named: set[str]
    encoder: str
    frames: list[tuple]
    info: RunInfo
    bad_names: dict[str, str] = field(default_factory=dict)  # folder -> why (see scan)

    # Computed on first use: taking the corrections from the files (every rerun of a run does)
    # needs neither the vectors nor the tracks, which read every shard again.
    @functools.cached_property
    def settings(self) -> ClusterSettings:
        """The cluster settings the run was made with (run.json), so that every repair clusters
        as the run did; the defaults for a run.json without them."""
        given = self.info.settings.get("cluster") or {}
        names = {f.name for f in fields(ClusterSettings)}
        try:
            return ClusterSettings(**{k: v for k, v in given.items() if k in names})
        except (AttributeError, TypeError, ValueError, ClusterpipeError):
            return ClusterSettings()

    def person_space(self, eps: float | None = None) -> PersonSpace:
        """The run's faces in the space the run clustered in, with its settings resolved (an
        explicit eps wins over them)."""
        if eps is None:
            return self.person
        return person_space_of(
            self.faces, self.encoder, replace(self.settings, eps=eps), self.tracks
        )

    @functools.cached_property
    def person(self) -> PersonSpace:
        """person_space() with the run's own settings."""
        return person_space_of(self.faces, self.encoder, self.settings, self.tracks)

    @property
    def space(self) -> np.ndarray:
        """The vectors of every face in the run's person space, row i = faces[i]."""
        return self.person.vectors

    @property
    def radius(self) -> float:
        """The run's radius in that space."""
        return self.person.settings.radius

    @functools.cached_property
    def tracks(self) -> np.ndarray:
        """Track id per face (each face its own track where the shards are gone)."""
        try:
            samples = load_samples(self.out)
        except (ClusterpipeError, OSError):
            samples = []
        if not samples:
            return np.arange(len(self.faces))
        return np.asarray(face_tracks(self.faces, samples))


def keep_named(out: Path, named: list[str], fresh: bool) -> None:
    """Say what a run does with the folders the user named in OUT; refuse where it cannot keep
    them (the records of their faces, faces.jsonl or run.json, are gone)."""
    listed = ", ".join(named[:5]) + (", ..." if len(named) > 5 else "")
    if named and fresh:
        log.warning(
            "--fresh: discarding the faces of %d named folders (%s); their other files stay",
            len(named),
            listed,
        )
    elif named:
        for name in (FACES_FILE, RUN_FILE):
            if not (out / name).is_file():
                raise StoreError(
                    f"{out / name}: missing, so the faces of the named folders ({listed}) "
                    "cannot be kept: restore it from a backup, or start over with --fresh"
                )
        log.info("keeping %d named folders (%s)", len(named), listed)


def require_run(out: str | Path) -> Path:
    """OUT, if it holds a run (run.json); else a one-line error."""
    out = Path(out)
    if not (out / RUN_FILE).is_file():
        if (out / LOCK_FILE).is_file():  # a first run is writing it: say so, not "no run"
            with Lock(out):
                pass
        raise ClusterpipeError(f"{out}: no run.json; is this a clusterpipe output folder?")
    return out


def run_lock(out: str | Path) -> Lock:
    """OUT's lock, for a command that changes a run: checked to be a run first, so that a
    mistyped path gets an error, not a new folder with a lock file in it."""
    return Lock(require_run(out))


def load_view(out: str | Path) -> RunView:
    """Read a run's folders, records and tracks."""
    out = require_run(out)
    info = read_run_info(out)
    faces = read_faces(out / FACES_FILE)
    encoder = attach_vectors(out, faces)
    by_id = {f.id: i for i, f in enumerate(faces)}
    tree = scan(out, set(by_id))
    now: dict[str, str | None] = dict.fromkeys(by_id)
    # A rejected face (review page) is out of every folder, as a deleted crop is.
    now.update({f: w for f, w in OutDir(out).locate(by_id, tree).items() if w != REJECTED})
    names = info.names()
    last = {
        f.id: NOISE if f.cluster < 0 else names.get(f.cluster, f"{UNNAMED_PREFIX}{f.cluster}")
        for f in faces
    }
    return RunView(
        out,
        faces,
        by_id,
        now,
        last,
        {f.name for f in tree.named},
        encoder,
        [(f.video, f.frame_index) for f in faces],
        info,
        tree.bad_names,
    )
