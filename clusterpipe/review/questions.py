""" "Same person?" questions: the few answers that change the folders most.

Three kinds, each from the run's own person space and radius:
- merge: two folders (not both named) whose faces may be one person: DBSCAN left them apart,
  but their centres are near the radius;
- split: a folder whose faces fall into two groups that may be two people (look-alike relatives);
- noise: a face in noise near a folder.
Each is worth (faces the answer moves) x (how likely the answer moves them). Pairs the user
already kept apart or together, and questions skipped this session, are not asked again.

How likely two folders are one person is calibrated on the run itself: folders seen in one frame
are two people for sure, and a folder's own faces are (mostly) one person. Two folders are
compared by the RMS distance between their faces; the odds fall from even halfway between the
typical "one person" and "two people" values. Without folders seen together, a fixed curve on
the centres' distance over the radius stands in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..store.corrections import Corrections

SHOWN = 6  # faces shown for a folder or group: those nearest its centre
MAX_QUESTIONS = 200  # ranked per call; the page asks for the first
MIN_VALUE = 0.05  # below this a question is not worth the user's time
# How likely two groups are one person, from their centres' distance over the radius: DBSCAN
# separated them, so they sit above it; one person's pieces stay within ~1.4 radii.
SAME_AT, SAME_SLOPE = 1.4, 8.0
# The calibrated odds (bench/ask.py: dev_hard, the harder real set, real_dev): even at MIDWAY
# between the run's "one person" and "two people" RMS distances, falling at SLOPE per unit of
# that gap; calibrated only with MIN_APART pairs of folders seen in one frame.
MIDWAY, SLOPE, MIN_APART = 0.5, 10.0, 3


@dataclass(frozen=True)
class Side:
    """One side of a question: the faces shown, the folder they stand for (None: a group or a
    noise face), and every face an answer moves or records."""

    faces: tuple[str, ...]
    folder: str | None
    members: tuple[str, ...]

    def to_json(self) -> dict:
        return {"faces": list(self.faces), "folder": self.folder}


@dataclass(frozen=True)
class Question:
    """A "same person?" question and what it is worth."""

    id: str
    kind: str  # merge, split or noise
    a: Side
    b: Side
    why: str
    value: float

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "why": self.why,
        }


def _same(d: float, eps: float) -> float:
    return float(1 / (1 + np.exp((d / eps - SAME_AT) * SAME_SLOPE)))


@dataclass(frozen=True)
class Odds:
    """How likely two folders are one person, from their faces (see the module's docstring)."""

    eps: float
    one: float | None = None  # typical RMS distance between two faces of one folder
    two: float | None = None  # typical RMS distance between faces of folders seen together

    @classmethod
    def of(
        cls,
        centres: Mapping[str, np.ndarray],
        spread: Mapping[str, float],
        together: Sequence[tuple[str, str]],
        eps: float,
    ) -> Odds:
        """Calibrated on the folders' centres and spreads (mean squared distance to the centre;
        0 for one face) and the pairs of folders seen in one frame."""
        one = [np.sqrt(2 * s) for s in spread.values() if s > 0]
        if len(together) < MIN_APART or not one:
            return cls(eps)
        two = float(
            np.median([_rms(centres[p], spread[p], centres[q], spread[q]) for p, q in together])
        )
        if two <= float(np.median(one)):
            return cls(eps)
        return cls(eps, float(np.median(one)), two)

    def same(self, cp: np.ndarray, sp: float, cq: np.ndarray, sq: float) -> float:
        """The odds that two folders (centre, spread each) are one person."""
        if self.one is None or self.two is None:
            return _same(float(np.linalg.norm(cp - cq)), self.eps)
        z = (_rms(cp, sp, cq, sq) - self.one) / (self.two - self.one)
        return float(1 / (1 + np.exp((z - MIDWAY) * SLOPE)))


def _rms(cp: np.ndarray, sp: float, cq: np.ndarray, sq: float) -> float:
    """RMS distance over every pair of faces (one of each folder), from centres and spreads."""
    return float(np.sqrt(((cp - cq) ** 2).sum() + sp + sq))


def _shown(x: np.ndarray, ids: Sequence[str]) -> tuple[str, ...]:
    centre = x.mean(axis=0)
    order = np.argsort(np.linalg.norm(x - centre, axis=1))
    return tuple(ids[k] for k in order[:SHOWN])


def _qid(kind: str, a: Sequence[str], b: Sequence[str]) -> str:
    blob = f"{kind}|{','.join(sorted(a))}|{','.join(sorted(b))}"
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _decided(corr: Corrections) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """Face id -> the apart entries it is in, and -> the together groups it is in."""
    apart: dict[str, set[int]] = {}
    for k, entry in enumerate(corr.apart):
        for g in entry:
            for fid in g:
                apart.setdefault(fid, set()).add(k)
    together: dict[str, set[int]] = {}
    for k, group in enumerate(corr.together):
        for fid in group:
            together.setdefault(fid, set()).add(k)
    return apart, together


def _already(a: Sequence[str], b: Sequence[str], corr: Corrections, decided) -> bool:
    """Whether a correction already says a and b are apart, or together."""
    apart, together = decided
    ea = set().union(*(apart.get(f, set()) for f in a))
    eb = set().union(*(apart.get(f, set()) for f in b))
    for k in ea & eb:
        groups = corr.apart[k]
        ga = {i for i, g in enumerate(groups) if set(g) & set(a)}
        gb = {i for i, g in enumerate(groups) if set(g) & set(b)}
        if ga != gb or len(ga | gb) > 1:
            return True
    ta = set().union(*(together.get(f, set()) for f in a))
    tb = set().union(*(together.get(f, set()) for f in b))
    return bool(ta & tb)


def _two_groups(x: np.ndarray) -> np.ndarray | None:
    """Average-linkage cut of a folder's faces into two groups (labels 0/1), or None."""
    if len(x) < 4:
        return None
    from scipy.cluster.hierarchy import fcluster, linkage

    lab = fcluster(linkage(x, method="average"), 2, "maxclust") - 1
    return lab if len(set(lab.tolist())) == 2 else None


def _split_of(ids: list[str], x: np.ndarray, space: np.ndarray, row: Mapping[str, int]):
    """A folder's two groups (larger first), their vectors and their centres' distance."""
    lab = _two_groups(x)
    if lab is None:
        return None
    g = [[ids[k] for k in np.flatnonzero(lab == v)] for v in (0, 1)]
    g.sort(key=len, reverse=True)
    xg = [space[[row[i] for i in grp]] for grp in g]
    return g, xg, float(np.linalg.norm(xg[0].mean(axis=0) - xg[1].mean(axis=0)))


def questions(
    where: Mapping[str, str],
    space: np.ndarray,
    row: Mapping[str, int],
    eps: float,
    named: Collection[str],
    noise: str,
    corr: Corrections,
    skipped: Collection[str] = (),
    frame_of: Mapping[str, object] | None = None,
    splits: dict | None = None,
) -> list[Question]:
    """Questions worth asking about the folders as they are (`where`: face id -> folder or
    `noise`; faces elsewhere are left out), most valuable first. With `frame_of` (face id ->
    its frame), two folders seen in one frame are two people: never asked. `splits` caches each
    folder's two groups by its faces, across calls (an answer changes one or two folders)."""
    splits = {} if splits is None else splits
    folders: dict[str, list[str]] = {}
    noise_ids: list[str] = []
    for fid, w in where.items():
        if w == noise:
            noise_ids.append(fid)
        elif isinstance(w, str) and not w.startswith("\0"):
            folders.setdefault(w, []).append(fid)
    decided = _decided(corr)
    names = sorted(folders)
    xs = {n: space[[row[i] for i in folders[n]]] for n in names}
    centres = {n: xs[n].mean(axis=0) for n in names}
    shown = {n: _shown(xs[n], folders[n]) for n in names}
    seen_in = {n: {frame_of[i] for i in folders[n]} if frame_of else set() for n in names}
    together = {
        (p, q) for i, p in enumerate(names) for q in names[i + 1 :] if seen_in[p] & seen_in[q]
    }
    spread = {n: float(((xs[n] - centres[n]) ** 2).sum(axis=1).mean()) for n in names}
    odds = Odds.of(centres, spread, sorted(together), eps)
    out: list[Question] = []

    def add(kind, a: Side, b: Side, why: str, value: float) -> None:
        qid = _qid(kind, a.members, b.members)
        if (
            qid not in skipped
            and value > 0.01
            and not _already(a.members, b.members, corr, decided)
        ):
            out.append(Question(qid, kind, a, b, why, value))

    for i, p in enumerate(names):
        for q in names[i + 1 :]:
            if p in named and q in named:
                continue  # two names the user gave: two people
            if (p, q) in together:
                continue  # in one frame together: two people
            d = float(np.linalg.norm(centres[p] - centres[q]))
            if d > 2.5 * eps:
                continue
            moved = min(len(folders[p]), len(folders[q]))
            add(
                "merge",
                Side(shown[p], p, tuple(folders[p])),
                Side(shown[q], q, tuple(folders[q])),
                f"{p} and {q} may be one person (centres {d:.2f} apart, radius {eps:.2f})",
                moved * odds.same(centres[p], spread[p], centres[q], spread[q]),
            )
    for p in names:
        if p in named and len(folders[p]) < 4:
            continue
        key = frozenset(folders[p])
        if key not in splits:
            splits[key] = _split_of(folders[p], xs[p], space, row)
        if splits[key] is None:
            continue
        g, xg, d = splits[key]
        add(
            "split",
            Side(_shown(xg[0], g[0]), None, tuple(g[0])),
            Side(_shown(xg[1], g[1]), None, tuple(g[1])),
            f"{p} may hold two people ({len(g[0])} and {len(g[1])} faces, {d:.2f} apart)",
            len(g[1]) * (1 - _same(d, eps)),
        )
    if names and noise_ids:
        c = np.array([centres[n] for n in names])
        for fid in noise_ids:
            d_all = np.linalg.norm(c - space[row[fid]], axis=1)
            k = int(np.argmin(d_all))
            d = float(d_all[k])
            if d > 2 * eps:
                continue
            n = names[k]
            add(
                "noise",
                Side((fid,), None, (fid,)),
                Side(shown[n], n, tuple(folders[n])),
                f"a face in noise may be {n} ({d:.2f} from its centre)",
                _same(d, eps),
            )
    out.sort(key=lambda q: (-q.value, q.id))
    return out[:MAX_QUESTIONS]
