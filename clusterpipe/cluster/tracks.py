"""What video knows: shot cuts between samples, and tracks of one face across samples."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..detect.boxes import iou_matrix

CUT_DISTANCE = 0.5  # L1 distance of colour signatures (sum 2) above which samples straddle a cut
TRACK_IOU = 0.3  # boxes of one face one sample apart overlap at least this much
TRACK_DISTANCE = 0.6  # and their encodings are at most this far apart


def frame_signature(image: np.ndarray) -> list[float]:
    """A 72-value colour signature (HSV hue-saturation 8x8 + value 8), robust to motion."""
    hsv = cv2.cvtColor(
        cv2.resize(image, (160, 90), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2HSV
    )
    hs = cv2.calcHist([hsv], [0, 1], None, [8, 8], [0, 180, 0, 256]).ravel()
    v = cv2.calcHist([hsv], [2], None, [8], [0, 256]).ravel()
    sig = np.concatenate([hs / max(hs.sum(), 1), v / max(v.sum(), 1)]) / 2
    return np.round(sig, 4).tolist()


def is_cut(
    a: Sequence[float] | None, b: Sequence[float] | None, threshold: float = CUT_DISTANCE
) -> bool:
    """True if two consecutive samples look like different shots (or one has no signature)."""
    if a is None or b is None:
        return True
    return float(np.abs(np.asarray(a) - np.asarray(b)).sum()) > threshold


def build_tracks(
    samples: Sequence[tuple],
    boxes: np.ndarray,
    encodings: np.ndarray,
    faces_of: dict[tuple, list[int]],
) -> np.ndarray:
    """Track id per face.

    `samples` are (video, frame_index, signature) in time order per video; `faces_of[(video,
    frame_index)]` lists face positions. Faces of consecutive samples of one shot are linked
    one-to-one (Hungarian) when their boxes overlap and their encodings are close.
    """
    # Imported here: encoder processes import this module for frame_signature alone, and
    # scipy.optimize would add ~0.5 s to each one's start-up.
    from scipy.optimize import linear_sum_assignment

    n = len(boxes)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for prev, cur in zip(samples, samples[1:]):
        if prev[0] != cur[0] or is_cut(prev[2], cur[2]):
            continue
        a, b = faces_of.get(prev[:2], []), faces_of.get(cur[:2], [])
        if not a or not b:
            continue
        iou = iou_matrix(boxes[a], boxes[b])
        dist = np.linalg.norm(encodings[a][:, None] - encodings[b][None], axis=2)
        ok = (iou >= TRACK_IOU) & (dist <= TRACK_DISTANCE)
        rows, cols = linear_sum_assignment(-(iou + ok))
        for r, c in zip(rows, cols):
            if ok[r, c]:
                parent[find(b[c])] = find(a[r])
    return np.array([find(i) for i in range(n)])
