"""Train/val splits that measure generalisation: whole shots go to one side, every person is on
both sides where their footage allows it, and the requested fraction is kept."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .base import Item

log = logging.getLogger("clusterpipe")

BLOCK_SECONDS = 10.0  # the unit where a run's shots are not known (no shards)
GAP_SECONDS = 2.0  # with blocks: val faces this close to a train face of the person are dropped


@dataclass(frozen=True)
class SplitReport:
    """What the split did, for the user."""

    val_fraction: float  # the fraction of images in val
    train_only: list  # people seen in one unit only: in train, not in val
    dropped_near: int  # val faces dropped for being next to a train face (blocks only)
    # class -> its share of images in val (classes on both sides)
    class_val_share: dict = field(default_factory=dict)
    units: int = 0  # groups of images that go to one side whole


def shot_units(items: Sequence[Item], cuts: dict[str, list[int]] | None) -> list[tuple]:
    """The unit of each item: its shot (video, number of cuts before its frame) where the run's
    cuts are known (`cuts[video]`: the frame index each new shot starts at), else a time block."""
    if cuts is None:
        return [(i.face.video, "block", int(i.face.time_s // BLOCK_SECONDS)) for i in items]
    out = []
    for i in items:
        starts = cuts.get(i.face.video, [])
        out.append((i.face.video, "shot", sum(1 for f in starts if f <= i.face.frame_index)))
    return out


def shot_starts(samples: Sequence[tuple]) -> dict[str, list[int]]:
    """Frame index where each shot after the first starts, per video, from a run's samples
    ((video, frame_index, signature) in time order)."""
    from ..cluster.tracks import is_cut

    starts: dict[str, list[int]] = defaultdict(list)
    prev: dict[str, Sequence[float] | None] = {}
    for video, frame_index, sig in samples:
        if video in prev and is_cut(prev[video], sig):
            starts[video].append(frame_index)
        prev[video] = sig
    return dict(starts)


def _merged(units: list[tuple], links: Sequence[tuple[int, int]]) -> list[tuple]:
    """Units joined wherever two linked items (near-duplicates) sit in different ones."""
    root = {u: u for u in units}

    def find(u):
        while root[u] != u:
            root[u] = root[root[u]]
            u = root[u]
        return u

    for a, b in links:
        ra, rb = find(units[a]), find(units[b])
        if ra != rb:
            root[max(ra, rb)] = min(ra, rb)
    return [find(u) for u in units]


def split_items(
    items: list[Item],
    val_fraction: float,
    seed: int,
    cuts: dict[str, list[int]] | None = None,
    links: Sequence[tuple[int, int]] = (),
) -> tuple[list[Item], SplitReport]:
    """Assign each unit (shot or block, joined with every unit a near-duplicate of one of its
    images sits in: `links` are pairs of item positions) wholly to train or val: first one val
    and one train unit for every person with two units or more, then val filled up to the
    fraction with the units that bring each person nearest their own share."""
    if val_fraction <= 0 or not items:
        return items, SplitReport(0.0, [], 0)
    units = _merged(shot_units(items, cuts), links)
    person = [i.labels[0][0] if i.labels else -1 for i in items]  # -1: a background
    size: dict[tuple, int] = defaultdict(int)
    people_of: dict[tuple, set[int]] = defaultdict(set)
    units_of: dict[int, set[tuple]] = defaultdict(set)
    count: dict[tuple, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    per_class: dict[int, int] = defaultdict(int)
    for u, item in zip(units, items):
        size[u] += 1
        for c in {c for c, *_ in item.labels}:  # everyone labelled in the image
            people_of[u].add(c)
            units_of[c].add(u)
            count[u][c] += 1
            per_class[c] += 1
    rng = random.Random(seed)
    order = sorted(size)
    rng.shuffle(order)
    rank = {u: k for k, u in enumerate(order)}
    val: set[tuple] = set()
    in_val: dict[int, int] = defaultdict(int)

    def train_left(u) -> bool:
        """Every person of u keeps a train unit if u goes to val."""
        return all(units_of[p] - val - {u} for p in people_of[u])

    def take(u) -> None:
        val.add(u)
        for c, k in count[u].items():
            in_val[c] += k

    # Each person who can be on both sides gets a val unit, fewest-unit people first.
    for p in sorted(units_of, key=lambda p: (len(units_of[p]), p)):
        if len(units_of[p]) < 2 or units_of[p] & val:
            continue
        for u in sorted(units_of[p], key=lambda u: (size[u], rank[u])):
            if train_left(u):
                take(u)
                break

    def gain(u) -> float:
        """How much nearer their own val share the people of u get if u goes to val."""
        g = 0.0
        for c, k in count[u].items():
            want = val_fraction * per_class[c]
            g += abs(want - in_val[c]) - abs(want - in_val[c] - k)
        return g / max(1, sum(count[u].values()))

    target = val_fraction * len(items)
    while True:
        got = sum(size[v] for v in val)
        if got >= target:
            break
        fits = [
            u
            for u in order
            if u not in val and got + size[u] <= target + size[u] / 2 and train_left(u)
        ]
        if not fits:
            break
        best = max(fits, key=lambda u: (gain(u), -rank[u]))
        if gain(best) <= 0 and got + size[best] > target:
            break
        take(best)
    split = [replace(i, split="val" if u in val else "train") for i, u in zip(items, units)]
    dropped = 0
    if cuts is None:  # blocks ignore shots: keep a gap between a person's val and train faces
        train_t: dict[tuple, list[float]] = defaultdict(list)
        for i, p in zip(split, person):
            if i.split == "train":
                train_t[(i.face.video, p)].append(i.face.time_s)
        kept = []
        for i, p in zip(split, person):
            near = any(abs(t - i.face.time_s) < GAP_SECONDS for t in train_t[(i.face.video, p)])
            if i.split == "val" and near:
                dropped += 1
                continue
            kept.append(i)
        split = kept
    n_val = sum(i.split == "val" for i in split)
    train_only = sorted({p for p in units_of if not units_of[p] & val})
    shares = {c: round(in_val[c] / per_class[c], 3) for c in per_class if c not in train_only}
    return split, SplitReport(
        n_val / max(1, len(split)), train_only, dropped, shares, len(set(units))
    )
