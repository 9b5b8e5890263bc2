"""What a promote checks about where faces come from and who they are: one name per person.

A gallery entry belongs to the run it was promoted from (its run id) and to the folder that run
was in. A promote replaces what its run promoted before; these checks decide what that is, and
warn where the gallery would end up with one person under two names or two under one.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ClusterpipeError, StoreError
from ..store.layout import RUN_FILE
from ..store.runinfo import read_run_info

log = logging.getLogger("clusterpipe")

SAME_FACE = 1e-3  # two vectors this close are one face promoted twice
LOOKS_LIKE = 0.6  # two names whose faces' means are within this share of the match radius


def _run_id_at(out: str) -> str | None:
    """The run id of the run now in folder `out`, if one is there and readable."""
    try:
        return read_run_info(Path(out)).run_id if (Path(out) / RUN_FILE).is_file() else None
    except (StoreError, OSError):
        return None


def owned(entries: Sequence[dict], run_id: str, here: str) -> np.ndarray:
    """Which entries this run (id, folder `here`) promoted: its own, and those of an earlier run
    in the same folder (`run --fresh` made a new one there). A copy of the run, promoted from
    another folder that still holds it, is refused: one of them would take the other's names."""
    mine = np.zeros(len(entries), dtype=bool)
    earlier: Counter[str] = Counter()
    seen: dict[str, str | None] = {}
    for k, e in enumerate(entries):
        where = e.get("out")
        if e["run"] == run_id:
            mine[k] = True
            if isinstance(where, str) and where != here:
                if where not in seen:
                    seen[where] = _run_id_at(where)
                if seen[where] == run_id:
                    raise ClusterpipeError(
                        f"{here} is a copy of {where} (the same run, id {run_id}), whose names "
                        "the gallery holds: promoting the copy would replace them. Promote one "
                        "of the two only (move or delete the other)"
                    )
        elif where == here:
            mine[k] = True
            earlier[e["run"]] += 1
    for old, n in earlier.items():
        log.warning(
            "%s: %d faces promoted from the run this folder held before (id %s) now follow "
            "this run",
            here,
            n,
            old,
        )
    return mine


def warn_two_names(
    entries: Sequence[dict],
    vectors: np.ndarray,
    others: np.ndarray,
    fresh: Sequence[tuple[str, str, np.ndarray]],
) -> None:
    """Warn of faces being added that the gallery already holds from another run (the same
    face id and vector): under another name, one person has two names."""
    rows: dict[str, list[int]] = defaultdict(list)
    for k in np.flatnonzero(others).tolist():
        rows[entries[k]["face_id"]].append(k)
    twice: Counter[tuple[str, str]] = Counter()
    for name, fid, vec in fresh:
        for k in rows.get(fid, ()):
            if float(np.linalg.norm(vectors[k] - vec)) < SAME_FACE:
                twice[(name, entries[k]["name"])] += 1
                break
    for (name, other), n in sorted(twice.items()):
        if name == other:
            log.warning(
                "%d faces of %r are in the gallery already (promoted from another run of the "
                "same footage): they count twice",
                n,
                name,
            )
        else:
            log.warning(
                "%d faces of %r are in the gallery already as %r: one person under two names; "
                "rename one folder and promote again, or `gallery --remove` one name",
                n,
                name,
                other,
            )


def _means(names: Sequence[str], rows: np.ndarray, vectors: np.ndarray):
    """The names of `rows` of `vectors` (names[i] is row rows[i]'s), sorted, and their means
    (one row each)."""
    from scipy.sparse import csr_matrix

    keys, codes = np.unique(np.asarray(names, dtype=object), return_inverse=True)
    # One pass over the vectors (memory-mapped in a large gallery), no copy of the rows.
    pick = csr_matrix((np.ones(len(rows)), (codes, rows)), shape=(len(keys), len(vectors)))
    sums = np.asarray(pick @ vectors, dtype=np.float64)
    counts = np.bincount(codes, minlength=len(keys))
    return [str(k) for k in keys], sums / counts[:, None]


def warn_look_alikes(
    entries: Sequence[dict],
    vectors: np.ndarray,
    others: np.ndarray,
    promoted: Sequence[str],
    promoted_vectors: np.ndarray,
    radius: float,
) -> None:
    """Warn of a name whose faces lie far from the same name's faces from other runs (two
    people under one name), or near another name's (one person under two names)."""
    rows = np.flatnonzero(others)
    if not len(rows) or not len(promoted):
        return
    theirs, their_means = _means([entries[k]["name"] for k in rows.tolist()], rows, vectors)
    ours, our_means = _means(promoted, np.arange(len(promoted)), promoted_vectors)
    their_names = np.asarray(theirs, dtype=object)
    for name, mean in zip(ours, our_means):
        dist = np.linalg.norm(their_means - mean, axis=1)  # to every other name at once
        same = their_names == name
        odd = (same & (dist > radius)) | (~same & (dist < LOOKS_LIKE * radius))
        for k in np.flatnonzero(odd).tolist():
            other, d = theirs[k], float(dist[k])
            if other == name:
                log.warning(
                    "%r of this run is %.2f from %r of the gallery's other runs (match radius "
                    "%.2f): two people under one name? If so, rename this run's folder",
                    name,
                    d,
                    other,
                    radius,
                )
            else:
                log.warning(
                    "%r of this run looks like %r in the gallery (%.2f apart, match radius "
                    "%.2f): if one person, use one name; identify answers the nearer",
                    name,
                    other,
                    d,
                    radius,
                )


def warn_case_twins(known: Sequence[str], promoted: Sequence[str]) -> list[tuple[str, str]]:
    """Warn of a promoted name that differs only by case from another (in the gallery or in this
    promote): the gallery keeps them as two people. Returns the pairs warned of."""
    first: dict[str, str] = {}
    for name in sorted(set(known)):
        first.setdefault(name.casefold(), name)
    pairs = []
    for name in sorted(set(promoted)):
        other = first.setdefault(name.casefold(), name)
        if other != name:
            pairs.append((other, name))
            log.warning(
                "%r and %r differ only by case: the gallery keeps them as two people; rename one "
                "folder to the other's spelling and promote again if they are one",
                other,
                name,
            )
    return pairs
