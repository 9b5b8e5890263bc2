"""Labels that obey the user's corrections: "same person" answers join, "apart" ones split."""

from __future__ import annotations

import logging

import numpy as np

from ..store.corrections import Corrections

log = logging.getLogger("clusterpipe")


def forget_together(labels: np.ndarray, ids: list[str], corr: Corrections, folder: str) -> None:
    """Drop the "same person" answers whose faces the split puts in two groups (said)."""
    pos = {fid: k for k, fid in enumerate(ids)}
    keep = []
    for group in corr.together:
        if len({int(labels[pos[i]]) for i in group if i in pos}) > 1:
            log.warning('%s: split into groups against a "same person" answer: dropped', folder)
        else:
            keep.append(group)
    corr.together = keep


def together(labels: np.ndarray, ids: list[str], corr: Corrections) -> np.ndarray:
    """Obey the "same person" answers: the faces of each together group present here join the
    cluster most of them are in (noise included: a group all in noise becomes a cluster)."""
    pos = {fid: k for k, fid in enumerate(ids)}
    labels = labels.copy()
    nxt = int(labels.max(initial=-1)) + 1
    for group in corr.together:
        here = [pos[i] for i in group if i in pos]
        if len(here) < 2:
            continue
        clustered = [int(labels[k]) for k in here if labels[k] >= 0]
        if clustered:
            target = max(set(clustered), key=clustered.count)
        else:
            target, nxt = nxt, nxt + 1
        for c in {int(labels[k]) for k in here} - {-1, target}:
            labels[labels == c] = target  # the rest of that cluster is the same person too
        labels[here] = target
    return labels


def apart(labels: np.ndarray, ids: list[str], corr: Corrections) -> np.ndarray:
    """Obey the corrections: where a group holds faces of two groups a correction keeps apart,
    the faces of the group with most of them stay and each other group's leave (a single face
    left alone is noise)."""
    pos = {fid: k for k, fid in enumerate(ids)}
    labels = labels.copy()
    nxt = int(labels.max(initial=-1)) + 1
    for entry in corr.apart:
        groups = [[pos[i] for i in g if i in pos] for g in entry]
        if sum(1 for g in groups if g) < 2:
            continue
        for c in {int(labels[k]) for g in groups for k in g} - {-1}:
            present = [[k for k in g if labels[k] == c] for g in groups]
            present = [g for g in present if g]
            if len(present) < 2:
                continue
            keep = max(present, key=len)
            for g in present:
                if g is not keep:
                    labels[g] = nxt if len(g) > 1 else -1
                    nxt += 1
    return labels
