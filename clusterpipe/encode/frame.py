"""The per-frame work of every engine: shrink, detect, encode, cut portrait crops."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..cluster.tracks import frame_signature
from ..config import EncodeSettings
from ..detect.boxes import crop_labels, portrait_box
from ..sample.video import resize_to_fit
from ..store.layout import JPEG_QUALITY


@dataclass
class FrameResult:
    """Faces of one frame: boxes in original pixels, encodings, crop JPEGs and their labels."""

    boxes: list[list[int]]
    encodings: list[list[float]]
    crops: list[bytes]
    labels: list[list[str]]
    small_size: tuple[int, int]
    cpu_s: float  # detector + encoder only: the compute floor the benchmarks compare against
    detect_cpu_s: float  # the detector's part of cpu_s
    signature: list[float] | None = None  # colour signature for shot-cut detection
    landmarks: list | None = None  # per face: 5 (x, y) in original pixels, or None
    scores: list[float] | None = None  # per face: the detector's score
    vectors: np.ndarray | None = None  # (n, dim) of the extra encoder, if the settings name one


@dataclass
class FrameFaces:
    """What detect_and_encode finds in one frame; boxes and landmarks in original pixels."""

    boxes: list[list[int]]
    landmarks: list  # per face: 5 (x, y), or None where the detector gives none
    scores: list[float]
    encodings: np.ndarray  # (n, 128) float32
    small: np.ndarray  # the frame shrunk to the detection size
    cpu_s: float  # detector + encoder
    detect_cpu_s: float
    vectors: np.ndarray | None = None  # (n, dim) of the extra encoder, if any


# The fine pass runs only where the first pass threw away most pixels: originals at least twice
# as wide as the first-pass frame (1080p and up). Below that (720p) the first pass, upsampled
# once, already reaches faces of ~40 px in the original.
FINE_MIN_GAIN = 2.0


def _to_original(det, scale: tuple[float, float], w: int, h: int) -> list[tuple]:
    """(box, landmarks or None, score) of each detection, in original pixels."""
    sx, sy = scale
    out = []
    for k, (x1, y1, x2, y2) in enumerate(np.asarray(det.boxes).reshape(-1, 4).tolist()):
        box = [
            max(0, round(x1 * sx)),
            max(0, round(y1 * sy)),
            min(w, round(x2 * sx)),
            min(h, round(y2 * sy)),
        ]
        marks = None
        if det.landmarks is not None:
            marks = np.round(det.landmarks[k] * (sx, sy), 1).tolist()
        out.append((box, marks, round(float(det.scores[k]), 4)))
    return out


def _new_faces(found: list, known: list) -> list[int]:
    """Indices of `found` boxes whose centre lies in no `known` box."""
    keep = []
    for i, (x1, y1, x2, y2) in enumerate(found):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        if not any(a <= cx <= c and b <= cy <= d for a, b, c, d in known):
            keep.append(i)
    return keep


def detect_and_encode(encoder: Any, image: np.ndarray, settings: EncodeSettings) -> FrameFaces:
    """Faces of a BGR frame, left to right, with their encodings.

    Faces are found on the frame shrunk to max size, then by the finer pass (if on) for faces
    the first one was too coarse for; every face is encoded from the frame shrunk to the
    encoding size."""
    h, w = image.shape[:2]
    small = resize_to_fit(image, settings.max_width, settings.max_height)
    t0 = time.process_time()
    det = encoder.locate(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    faces = _to_original(det, (w / small.shape[1], h / small.shape[0]), w, h)
    cpu = time.process_time() - t0
    fine = None
    if settings.fine and w >= FINE_MIN_GAIN * small.shape[1]:
        fine = resize_to_fit(image, settings.fine_width, settings.fine_height)
        t0 = time.process_time()
        fine_det = encoder.locate(cv2.cvtColor(fine, cv2.COLOR_BGR2RGB))
        found = _to_original(fine_det, (w / fine.shape[1], h / fine.shape[0]), w, h)
        known = [f[0] for f in faces]
        faces += [found[i] for i in _new_faces([f[0] for f in found], known)]
        cpu += time.process_time() - t0
    detect_cpu = cpu
    vectors = None
    faces.sort(key=lambda f: (f[0][0], f[0][1]))
    boxes = [f[0] for f in faces]
    marks = [f[1] for f in faces]
    encs = np.zeros((0, 128), dtype=np.float32)
    if boxes:
        # Sharper chips than from the shrunk frame: on the dev footage (720p) this alone keeps
        # one person from splitting in two (see EncodeSettings.encode_width).
        encode_size = (settings.encode_width, settings.encode_height)
        if fine is None or (settings.fine_width, settings.fine_height) != encode_size:
            fine = resize_to_fit(image, settings.encode_width, settings.encode_height)
        sx, sy = fine.shape[1] / w, fine.shape[0] / h
        scaled = np.round(np.array(boxes) * (sx, sy, sx, sy)).astype(np.int64)
        scaled_marks = [None if m is None else np.array(m) * (sx, sy) for m in marks]
        t0 = time.process_time()
        encs = encoder.encode_bgr(fine, scaled, scaled_marks)
        if encoder.extra is not None:
            vectors = encoder.extra.embed(cv2.cvtColor(fine, cv2.COLOR_BGR2RGB), scaled)
        cpu += time.process_time() - t0
    elif encoder.extra is not None:
        vectors = np.zeros((0, encoder.extra.dim), np.float32)
    return FrameFaces(boxes, marks, [f[2] for f in faces], encs, small, cpu, detect_cpu, vectors)


def process_frame(encoder: Any, image: np.ndarray, settings: EncodeSettings) -> FrameResult:
    """Everything a worker does with one sampled original-resolution BGR frame."""
    h, w = image.shape[:2]
    found = detect_and_encode(encoder, image, settings)
    original, small = found.boxes, found.small
    crops, labels = [], []
    for i, box in enumerate(original):
        cx1, cy1, cx2, cy2 = crop = portrait_box(box, w, h)
        ok, buf = cv2.imencode(
            ".jpg", image[cy1:cy2, cx1:cx2], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        )
        crops.append(buf.tobytes() if ok else b"")
        labels.append(crop_labels(box, [o for j, o in enumerate(original) if j != i], crop))
    # Rounded at the source so that shards, faces.jsonl and clustering see the same numbers.
    encodings = np.round(found.encodings.astype(np.float64), 6).tolist()
    size = (small.shape[1], small.shape[0])
    return FrameResult(
        original,
        encodings,
        crops,
        labels,
        size,
        found.cpu_s,
        found.detect_cpu_s,
        frame_signature(small),
        found.landmarks,
        found.scores,
        found.vectors,
    )
