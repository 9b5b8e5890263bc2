"""Face chips aligned to the standard 5-point template at 112x112, the input layout of
face-recognition trainers such as InsightFace's (ArcFace)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

CHIP = 112
# Left eye, right eye, nose, left and right mouth corner of InsightFace's 112x112 template.
TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def align(image: np.ndarray, landmarks: Sequence[Sequence[float]]) -> np.ndarray | None:
    """The 112x112 chip of the face whose 5 landmarks (image pixels) are given: the similarity
    transform that best puts them on the template; None if they are degenerate."""
    src = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    m, _ = cv2.estimateAffinePartial2D(src, TEMPLATE, method=cv2.LMEDS)
    if m is None:
        return None
    return cv2.warpAffine(image, m, (CHIP, CHIP), flags=cv2.INTER_AREA, borderValue=0)
