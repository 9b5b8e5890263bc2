"""Likely mistakes in a run's folders, for status --suggest, the report and recluster."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import ClusterSettings
from .corrections import Corrections
from .runview import NOISE, RunView, load_view


def look_alikes(view: RunView, made: dict[str, set[str]], eps: float, corr: Corrections):
    """(unnamed folder, named folder, mean distance) where the mean distance between their
    faces is within eps and no correction or shared frame keeps them apart."""
    named: dict[str, list[int]] = {}
    for fid, w in view.now.items():
        if w in view.named:
            named.setdefault(w, []).append(view.by_id[fid])
    out = []
    for folder, members in sorted(made.items()):
        idx = [view.by_id[i] for i in members]
        best = None
        for person, pidx in named.items():
            if {view.frames[i] for i in idx} & {view.frames[i] for i in pidx}:
                continue  # two faces of one frame are two people
            ids = [view.faces[i].id for i in idx + pidx]
            if corr.links(ids):
                continue
            d = float(
                np.linalg.norm(view.space[idx][:, None] - view.space[pidx][None], axis=2).mean()
            )
            if d <= eps and (best is None or d < best[1]):
                best = (person, d)
        if best:
            out.append((folder, best[0], round(best[1], 3)))
    return out, {}


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
    view = load_view(out)
    members: dict[str, list[int]] = {}
    for fid, w in view.now.items():
        if w is not None and w != NOISE:
            members.setdefault(w, []).append(view.by_id[fid])
    named = {k: v for k, v in members.items() if k in view.named}
    misplaced = []
    for person, idx in sorted(named.items()):
        for i in idx:
            own = [j for j in idx if j != i]
            if not own:
                continue
            d_own = float(np.linalg.norm(view.space[own] - view.space[i], axis=1).mean())
            for other, oidx in named.items():
                if other == person:
                    continue
                d = float(np.linalg.norm(view.space[oidx] - view.space[i], axis=1).mean())
                if d < d_own:
                    misplaced.append(
                        (view.faces[i].id, person, other, round(d_own, 3), round(d, 3))
                    )
                    break
    unnamed = {k: set(view.faces[i].id for i in v) for k, v in members.items() if k not in named}
    eps = ClusterSettings().in_space(view.encoder).radius
    looks, _ = look_alikes(view, unnamed, eps, Corrections.load(view.out))
    return Suggestions(misplaced, looks)
