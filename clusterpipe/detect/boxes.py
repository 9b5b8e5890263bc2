"""Box maths, no I/O: overlap, portrait crops and their YOLO labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

Box = Sequence[float]

PORTRAIT_WIDTH = 2.0  # crop width as a multiple of the face box width
PORTRAIT_ASPECT = 3 / 4  # width / height of the crop
MIN_VISIBLE = 0.5  # a face is labelled in a crop if at least this share of it is inside


def iou_matrix(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """IoU of every box in a (n, 4) with every box in b (m, 4), x1 y1 x2 y2."""
    p, q = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    lo = np.maximum(p[:, None, :2], q[None, :, :2])
    hi = np.minimum(p[:, None, 2:], q[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_p = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    area_q = (q[:, 2] - q[:, 0]) * (q[:, 3] - q[:, 1])
    union = area_p[:, None] + area_q[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def portrait_box(
    box: Box,
    frame_w: int,
    frame_h: int,
    width_factor: float = PORTRAIT_WIDTH,
    aspect: float = PORTRAIT_ASPECT,
) -> tuple[int, int, int, int]:
    """Grow a face box into a 3:4 portrait (head and shoulders), shifted/clamped into the frame."""
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    cw = min(frame_w, bw * width_factor)
    ch = min(frame_h, cw / aspect)
    cx = (x1 + x2) / 2
    cy = (y1 + y2) / 2 + 0.15 * bh  # a little below the face centre: chin and neck
    left = min(max(0.0, cx - cw / 2), frame_w - cw)
    top = min(max(0.0, cy - ch / 2), frame_h - ch)
    # The crop always contains the face box (it is larger and the face lies inside the frame).
    left, top = min(left, x1), min(top, y1)
    right, bottom = max(left + cw, x2), max(top + ch, y2)
    return (
        int(round(left)),
        int(round(top)),
        int(round(min(right, frame_w))),
        int(round(min(bottom, frame_h))),
    )


def yolo_line(face: Box, crop: Box, cls: int = 0) -> str | None:
    """`cls xc yc w h` of a face box inside a crop, normalised to the crop; None if mostly out."""
    cx1, cy1, cx2, cy2 = crop
    cw, ch = cx2 - cx1, cy2 - cy1
    fx1, fy1, fx2, fy2 = face
    area = max(0.0, fx2 - fx1) * max(0.0, fy2 - fy1)
    ix1, iy1 = max(fx1, cx1), max(fy1, cy1)
    ix2, iy2 = min(fx2, cx2), min(fy2, cy2)
    if cw <= 0 or ch <= 0 or area <= 0 or ix2 <= ix1 or iy2 <= iy1:
        return None
    if (ix2 - ix1) * (iy2 - iy1) < MIN_VISIBLE * area:
        return None
    xc = ((ix1 + ix2) / 2 - cx1) / cw
    yc = ((iy1 + iy2) / 2 - cy1) / ch
    return f"{cls} {xc:.6f} {yc:.6f} {(ix2 - ix1) / cw:.6f} {(iy2 - iy1) / ch:.6f}"


def yolo_to_box(line: str, width: int, height: int) -> tuple[int, float, float, float, float]:
    """Inverse of yolo_line: (cls, x1, y1, x2, y2) in pixels of a width x height image."""
    cls, *rest = line.split()
    if len(rest) != 4:
        raise ValueError(f"a YOLO line has 5 values, not {len(rest) + 1}")
    xc, yc, w, h = (float(v) * k for v, k in zip(rest, (width, height, width, height)))
    return int(cls), xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2


def crop_labels(face: Box, others: Sequence[Box], crop: Box) -> list[str]:
    """YOLO lines for a crop: its own face first, then every other face mostly inside it."""
    lines = [yolo_line(face, crop)]
    lines += [yolo_line(o, crop) for o in others]
    return [ln for ln in lines if ln]
