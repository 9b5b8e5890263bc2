"""The per-frame work: hog's finer second pass finds faces too small for the 700x500 pass,
mtcnn reaches them in one pass and gives landmarks, and faces are encoded from the frame shrunk
to the encoding size."""

import cv2
import numpy as np
import pytest

from clusterpipe.config import EncodeSettings
from clusterpipe.detect.boxes import yolo_to_box
from clusterpipe.encode.dlib import FaceEncoder, dlib_box
from clusterpipe.encode.frame import detect_and_encode, process_frame
from clusterpipe.sample.video import resize_to_fit


@pytest.fixture(scope="module")
def small_faces_frame(data_dir):
    """1920x1080 with the two faces of two_people.jpg shrunk to ~48 px wide."""
    photo = cv2.imread(str(data_dir / "dev" / "group_photos" / "two_people.jpg"))
    scale = 48 / 165  # the photo's faces are ~165 px wide
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[500 : 500 + small.shape[0], 800 : 800 + small.shape[1]] = small
    return frame


HOG = EncodeSettings(detector="hog")
HOG_FINE = EncodeSettings(detector="hog", fine_width=1280, fine_height=720)


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder(HOG)


@pytest.fixture(scope="module")
def mtcnn_encoder():
    return FaceEncoder(EncodeSettings())


def test_fine_pass_finds_small_faces_the_first_pass_misses(small_faces_frame, encoder):
    assert detect_and_encode(encoder, small_faces_frame, HOG).boxes == []
    # 48 px at 1080p is ~17 px after the 700x500 shrink
    found = detect_and_encode(encoder, small_faces_frame, HOG_FINE)
    boxes, encs = found.boxes, found.encodings
    assert len(boxes) == 2 and encs.shape == (2, 128) and found.cpu_s > found.detect_cpu_s > 0
    assert boxes[0][0] < boxes[1][0]  # left to right
    for x1, y1, x2, y2 in boxes:  # in original pixels, where the faces were pasted
        assert 790 <= x1 and x2 <= 1120 and 495 <= y1 and y2 <= 620
        assert 30 <= x2 - x1 <= 80
    assert np.linalg.norm(encs[0] - encs[1]) > 0.5  # two different people


def test_fine_pass_is_skipped_for_small_originals(encoder):
    # 1280x720 is less than twice 700 wide: the first pass already reaches ~40 px faces.
    frame = np.full((720, 1280, 3), 90, np.uint8)
    res = process_frame(encoder, frame, HOG_FINE)
    assert res.boxes == [] and res.small_size == (700, 394)


def test_crops_and_labels_of_small_faces(small_faces_frame, encoder):
    res = process_frame(encoder, small_faces_frame, HOG_FINE)
    assert len(res.crops) == 2 and all(res.crops)
    crop = cv2.imdecode(np.frombuffer(res.crops[0], np.uint8), cv2.IMREAD_COLOR)
    _, x1, y1, x2, y2 = yolo_to_box(res.labels[0][0], crop.shape[1], crop.shape[0])
    assert 0 <= x1 < x2 <= crop.shape[1] and 0 <= y1 < y2 <= crop.shape[0]


def test_faces_are_encoded_from_the_encoding_size_frame(small_faces_frame, encoder):
    found = detect_and_encode(encoder, small_faces_frame, HOG_FINE)
    boxes, encs = found.boxes, found.encodings
    frame = resize_to_fit(small_faces_frame, 1280, 720)
    scaled = np.round(np.array(boxes) * (1280 / 1920)).astype(np.int64)
    assert np.array_equal(encs, encoder.encode_bgr(frame, scaled))
    # Each face's region gives exactly the chip the whole frame gives.
    whole = encoder.encode(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), scaled)
    assert np.array_equal(encs, whole)


@pytest.fixture(scope="module")
def medium_faces_frame(data_dir):
    """1920x1080 with the two faces of two_people.jpg at ~60 px (~22 px after the shrink)."""
    photo = cv2.imread(str(data_dir / "dev" / "group_photos" / "two_people.jpg"))
    small = cv2.resize(photo, None, fx=60 / 165, fy=60 / 165, interpolation=cv2.INTER_AREA)
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[400 : 400 + small.shape[0], 600 : 600 + small.shape[1]] = small
    return frame


def test_mtcnn_finds_them_in_one_pass_with_landmarks(medium_faces_frame, encoder, mtcnn_encoder):
    assert detect_and_encode(encoder, medium_faces_frame, HOG).boxes == []
    found = detect_and_encode(mtcnn_encoder, medium_faces_frame, EncodeSettings())
    assert len(found.boxes) == 2 and found.boxes[0][0] < found.boxes[1][0]
    assert all(0.7 <= s <= 1 for s in found.scores)
    for (x1, y1, x2, y2), marks in zip(found.boxes, found.landmarks):
        assert 590 <= x1 and x2 <= 1020 and 390 <= y1 and y2 <= 580
        (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = marks
        assert x1 <= lx < nx < rx <= x2 and x1 <= mlx < mrx <= x2  # in original pixels
        assert y1 <= ly < ny < mly <= y2 and y1 <= ry < ny < mry <= y2
    assert np.linalg.norm(found.encodings[0] - found.encodings[1]) > 0.5


def test_mtcnn_faces_are_encoded_from_the_dlib_box_of_their_landmarks(
    medium_faces_frame, mtcnn_encoder
):
    found = detect_and_encode(mtcnn_encoder, medium_faces_frame, EncodeSettings())
    frame = resize_to_fit(medium_faces_frame, 1280, 720)
    k = 1280 / 1920
    marks = [np.array(m) * k for m in found.landmarks]
    boxes = np.round(np.array(found.boxes) * k).astype(np.int64)
    assert np.array_equal(found.encodings, mtcnn_encoder.encode_bgr(frame, boxes, marks))
    hog_boxes = np.array([dlib_box(m) for m in marks])
    assert np.array_equal(found.encodings, mtcnn_encoder.encode_bgr(frame, hog_boxes))
    # dlib_box is square, centred between eyes and mouth
    x1, y1, x2, y2 = hog_boxes[0]
    assert x2 - x1 == y2 - y1
    eyes, mouth = marks[0][:2].mean(axis=0), marks[0][3:].mean(axis=0)
    assert abs((x1 + x2) / 2 - (eyes[0] + mouth[0]) / 2) <= 1


def test_a_frames_faces_are_encoded_in_one_batch_equal_to_one_at_a_time(data_dir, mtcnn_encoder):
    """Speed III: dlib encodes all of a frame's faces in one call (its batch), and the vectors
    equal those of one call per face."""
    frame = cv2.imread(str(data_dir / "dev" / "group_photos" / "obama_and_biden.jpg"))
    det = mtcnn_encoder.locate(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    assert len(det.boxes) >= 2
    marks = list(det.landmarks)
    calls = []
    real = mtcnn_encoder._encoder

    class Spy:
        def compute_face_descriptor(self, chips, jitters):
            calls.append(len(chips))
            return real.compute_face_descriptor(chips, jitters)

    mtcnn_encoder._encoder = Spy()
    try:
        batched = mtcnn_encoder.encode_bgr(frame, det.boxes, marks)
        singles = np.vstack(
            [
                mtcnn_encoder.encode_bgr(frame, det.boxes[k : k + 1], marks[k : k + 1])
                for k in range(len(det.boxes))
            ]
        )
    finally:
        mtcnn_encoder._encoder = real
    assert calls == [len(det.boxes)] + [1] * len(det.boxes)
    assert np.abs(batched - singles).max() <= 1e-5
