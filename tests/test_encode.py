"""The per-frame work: the finer second pass finds faces too small for the 700x500 pass, and
faces are encoded from the frame shrunk to the encoding size."""

import cv2
import numpy as np
import pytest

from clusterpipe.config import EncodeSettings
from clusterpipe.encode import detect_and_encode, process_frame
from clusterpipe.faces import FaceEncoder
from clusterpipe.generate.crops import yolo_to_box
from clusterpipe.video import resize_to_fit


@pytest.fixture(scope="module")
def small_faces_frame(data_dir):
    """1920x1080 with the two faces of two_people.jpg shrunk to ~48 px wide."""
    photo = cv2.imread(str(data_dir / "dev" / "group_photos" / "two_people.jpg"))
    scale = 48 / 165  # the photo's faces are ~165 px wide
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[500 : 500 + small.shape[0], 800 : 800 + small.shape[1]] = small
    return frame


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder(EncodeSettings())


def test_fine_pass_finds_small_faces_the_first_pass_misses(small_faces_frame, encoder):
    fast = EncodeSettings(fine_width=0, fine_height=0)
    boxes, _, _, _ = detect_and_encode(encoder, small_faces_frame, fast)
    assert boxes == []  # 48 px at 1080p is ~17 px after the 700x500 shrink
    boxes, encs, small, cpu = detect_and_encode(encoder, small_faces_frame, EncodeSettings())
    assert len(boxes) == 2 and encs.shape == (2, 128) and cpu > 0
    assert boxes[0][0] < boxes[1][0]  # left to right
    for x1, y1, x2, y2 in boxes:  # in original pixels, where the faces were pasted
        assert 790 <= x1 and x2 <= 1120 and 495 <= y1 and y2 <= 620
        assert 30 <= x2 - x1 <= 80
    assert np.linalg.norm(encs[0] - encs[1]) > 0.5  # two different people


def test_fine_pass_is_skipped_for_small_originals(encoder):
    # 1280x720 is less than twice 700 wide: the first pass already reaches ~40 px faces.
    frame = np.full((720, 1280, 3), 90, np.uint8)
    res = process_frame(encoder, frame, EncodeSettings())
    assert res.boxes == [] and res.small_size == (700, 394)


def test_crops_and_labels_of_small_faces(small_faces_frame, encoder):
    res = process_frame(encoder, small_faces_frame, EncodeSettings())
    assert len(res.crops) == 2 and all(res.crops)
    crop = cv2.imdecode(np.frombuffer(res.crops[0], np.uint8), cv2.IMREAD_COLOR)
    _, x1, y1, x2, y2 = yolo_to_box(res.labels[0][0], crop.shape[1], crop.shape[0])
    assert 0 <= x1 < x2 <= crop.shape[1] and 0 <= y1 < y2 <= crop.shape[0]


def test_faces_are_encoded_from_the_encoding_size_frame(small_faces_frame, encoder):
    boxes, encs, _, _ = detect_and_encode(encoder, small_faces_frame, EncodeSettings())
    frame = resize_to_fit(small_faces_frame, 1280, 720)
    scaled = np.round(np.array(boxes) * (1280 / 1920)).astype(np.int64)
    assert np.array_equal(encs, encoder.encode_bgr(frame, scaled))
    # Each face's region gives exactly the chip the whole frame gives.
    whole = encoder.encode(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), scaled)
    assert np.array_equal(encs, whole)
