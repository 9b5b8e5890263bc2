"""The per-frame work of every engine: shrink, detect, encode, cut portrait crops."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from .config import EncodeSettings
from .generate.crops import crop_labels, portrait_box
from .tracks import frame_signature
from .video import resize_to_fit

CROP_JPEG_QUALITY = 92


@dataclass
class FrameResult:
    """Faces of one frame: boxes in original pixels, encodings, crop JPEGs and their labels."""

    boxes: list[list[int]]
    encodings: list[list[float]]
    crops: list[bytes]
    labels: list[list[str]]
    small_size: tuple[int, int]
    cpu_s: float  # detector + encoder only: the compute floor the benchmarks compare against
    signature: list[float] | None = None  # colour signature for shot-cut detection


def process_frame(encoder, image: np.ndarray, settings: EncodeSettings) -> FrameResult:
    """Everything a worker does with one sampled original-resolution BGR frame."""
    h, w = image.shape[:2]
    small = resize_to_fit(image, settings.max_width, settings.max_height)
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    t0 = time.process_time()
    boxes, encs = encoder(rgb)
    cpu = time.process_time() - t0
    sx, sy = w / small.shape[1], h / small.shape[0]
    original = [
        [
            max(0, round(x1 * sx)),
            max(0, round(y1 * sy)),
            min(w, round(x2 * sx)),
            min(h, round(y2 * sy)),
        ]
        for x1, y1, x2, y2 in boxes.tolist()
    ]
    crops, labels = [], []
    for i, box in enumerate(original):
        cx1, cy1, cx2, cy2 = crop = portrait_box(box, w, h)
        ok, buf = cv2.imencode(
            ".jpg", image[cy1:cy2, cx1:cx2], [cv2.IMWRITE_JPEG_QUALITY, CROP_JPEG_QUALITY]
        )
        crops.append(buf.tobytes() if ok else b"")
        labels.append(crop_labels(box, [o for j, o in enumerate(original) if j != i], crop))
    # Rounded at the source so that shards, faces.jsonl and clustering see the same numbers.
    encodings = np.round(encs.astype(np.float64), 6).tolist()
    size = (small.shape[1], small.shape[0])
    return FrameResult(original, encodings, crops, labels, size, cpu, frame_signature(small))
