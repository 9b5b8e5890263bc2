"""Likely mistakes in a run's folders, for status --suggest, the report and recluster."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..store.corrections import Corrections
from .runview import NOISE, load_view


class Folders(Protocol):
    """What look_alikes reads of a run: a RunView, or the review page's own state."""

    now: dict[str, str | None]
    named: set[str]
    by_id: dict[str, int]
    frames: list[tuple]

    @property
    def space(self) -> np.ndarray: ...

    @property
    def faces(self) -> list: ...


def look_alikes(
    view: Folders, made: dict[str, set[str]], eps: float, corr: Corrections
) -> list[tuple[str, str, float]]:
    """(unnamed folder, named folder, mean distance) where the mean distance between their
    faces is within eps and no correction or shared frame keeps them apart."""
    from scipy.spatial.distance import cdist

    named: dict[str, list[int]] = {}
    for fid, w in view.now.items():
        if w in view.named:
            named.setdefault(w, []).append(view.by_id[fid])
    frames = {p: {view.frames[i] for i in pidx} for p, pidx in named.items()}
    people = list(named)
    if not people:
        return []
    centres = np.array([view.space[named[p]].mean(axis=0) for p in people])
    out = []
    for folder, members in sorted(made.items()):
        idx = [view.by_id[i] for i in members]
        if not idx:
            continue
        own_frames = {view.frames[i] for i in idx}
        # The mean distance between two sets is at least the distance between their means
        # (the norm is convex): people whose mean is beyond eps cannot qualify, nearest first.
        near = np.linalg.norm(centres - view.space[idx].mean(axis=0), axis=1)
        best = None
        for k in np.argsort(near, kind="stable"):
            person, pidx = people[k], named[people[k]]
            if near[k] > eps or (best is not None and near[k] >= best[1]):
                break
            if own_frames & frames[person]:
                continue  # two faces of one frame are two people
            d = float(cdist(view.space[idx], view.space[pidx]).mean())
            if d > eps or (best is not None and d >= best[1]):
                continue
            ids = [view.faces[i].id for i in idx + pidx]
            if not corr.links(ids):
                best = (person, d)
        if best:
            out.append((folder, best[0], round(best[1], 3)))
    return out


@dataclass
class Suggestions:
    """Likely mistakes: crops nearer another named person than their own, and unnamed folders
    that look like a named person."""

    misplaced: list[tuple[str, str, str, float, float]]  # (face id, in, nearer to, own, other)
    looks_like: list[tuple[str, str, float]]  # (unnamed folder, named folder, distance)


def suggestion_line(fid: str, person: str, other: str, d_own: float, d_other: float) -> str:
    """One misplaced crop, as status --suggest and the report say it."""
    return f"{person}/{fid}.jpg is nearer {other} ({d_other:.2f}) than {person} ({d_own:.2f})"


def suggest(out: str | Path) -> Suggestions:
    """What status --suggest prints; reads only."""
    from scipy.spatial.distance import cdist

    view = load_view(out)
    members: dict[str, list[int]] = {}
    for fid, w in view.now.items():
        if w is not None and w != NOISE:
            members.setdefault(w, []).append(view.by_id[fid])
    named = {k: v for k, v in members.items() if k in view.named}
    misplaced = []
    for person, idx in sorted(named.items()):
        if len(idx) < 2:
            continue
        x = view.space[idx]
        # Mean distance of each face to the rest of its folder, then to each other person's.
        d_own = cdist(x, x).sum(axis=1) / (len(idx) - 1)
        nearer: list[tuple[str, float] | None] = [None] * len(idx)
        for other, oidx in named.items():  # the first other person nearer than its own
            if other == person:
                continue
            d = cdist(x, view.space[oidx]).mean(axis=1)
            for j in np.flatnonzero(d < d_own).tolist():
                if nearer[j] is None:
                    nearer[j] = (other, float(d[j]))
        for k, hit in enumerate(nearer):
            if hit is not None:
                fid = view.faces[idx[k]].id
                misplaced.append((fid, person, hit[0], round(float(d_own[k]), 3), round(hit[1], 3)))
    unnamed = {k: set(view.faces[i].id for i in v) for k, v in members.items() if k not in named}
    looks = look_alikes(view, unnamed, view.radius, Corrections.load(view.out))
    return Suggestions(misplaced, looks)
