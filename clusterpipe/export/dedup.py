"""Near-duplicate images: a thumbnail correlation that finds the same shot seen again, so that
the split keeps them on one side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

THUMB = 32  # the measure: 32x32 grey thumbnails, correlation
# Two images at least this correlated are one unit of the split. Measured on the dev footage:
# consecutive seconds of one shot sit at a median of 0.968, crops of two different people never
# reach 0.9.
NEAR = 0.9
BLOCK = 2048  # rows per matrix product: bounded memory at any size


def thumbnails(paths: Sequence[Path]) -> np.ndarray:
    """(n, THUMB*THUMB) grey thumbnails, each centred and scaled to unit length (so a dot
    product is their correlation); an unreadable image gets a zero row (matches nothing)."""
    import cv2

    out = np.zeros((len(paths), THUMB * THUMB), np.float32)
    for k, p in enumerate(paths):
        img = cv2.imread(str(p), cv2.IMREAD_REDUCED_GRAYSCALE_2)
        if img is None:
            continue
        t = cv2.resize(img, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)
        t = t.ravel() - t.mean()
        norm = float(np.linalg.norm(t))
        if norm > 1e-6:
            out[k] = t / norm
    return out


def near_pairs(
    thumbs: np.ndarray, groups: Sequence[object] | None = None, near: float = NEAR
) -> list[tuple[int, int, float]]:
    """Pairs (i < j, correlation) of thumbnails at least `near` correlated; with `groups`,
    only pairs within one group (e.g. one person)."""
    n = len(thumbs)
    if groups is None:
        groups = [0] * n
    by_group: dict[object, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    pairs = []
    for idx in by_group.values():
        x = thumbs[idx]
        for start in range(0, len(idx), BLOCK):
            c = x[start : start + BLOCK] @ x.T
            rows, cols = np.nonzero(c >= near)
            for r, col in zip(rows.tolist(), cols.tolist()):
                a, b = idx[start + r], idx[col]
                if a < b:
                    pairs.append((a, b, float(c[r, col])))
    return sorted(pairs)
