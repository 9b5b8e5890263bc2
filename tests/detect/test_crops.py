import numpy as np
import pytest

from clusterpipe.detect.boxes import crop_labels, portrait_box, yolo_line, yolo_to_box


@pytest.mark.parametrize(
    "box, frame",
    [
        ((600, 240, 750, 390), (1280, 720)),
        ((0, 0, 120, 120), (1280, 720)),  # top-left corner
        ((1200, 640, 1280, 720), (1280, 720)),  # bottom-right corner
        ((10, 10, 300, 330), (320, 340)),  # face nearly fills the frame
        ((100, 100, 140, 140), (1920, 1080)),
    ],
)
def test_portrait_box_contains_face_and_stays_in_frame(box, frame):
    x1, y1, x2, y2 = portrait_box(box, *frame)
    assert 0 <= x1 < x2 <= frame[0] and 0 <= y1 < y2 <= frame[1]
    assert x1 <= box[0] and y1 <= box[1] and x2 >= box[2] and y2 >= box[3]


def test_portrait_box_is_portrait_shaped_when_room():
    x1, y1, x2, y2 = portrait_box((600, 240, 700, 340), 1920, 1080)
    assert (x2 - x1) / (y2 - y1) == pytest.approx(3 / 4, abs=0.01)
    assert x2 - x1 == 200


def test_yolo_line_round_trips_to_the_face():
    face, crop = (620, 250, 740, 380), (560, 180, 800, 500)
    line = yolo_line(face, crop)
    cls, *vals = line.split()
    assert cls == "0" and all(0 <= float(v) <= 1 for v in vals)
    _, x1, y1, x2, y2 = yolo_to_box(line, crop[2] - crop[0], crop[3] - crop[1])
    assert (x1 + crop[0], y1 + crop[1], x2 + crop[0], y2 + crop[1]) == pytest.approx(face, abs=0.01)


def test_label_drawn_on_crop_lands_on_the_face():
    # A frame with a bright "face" square; cut its portrait crop, draw the label back.
    frame = np.zeros((720, 1280), np.uint8)
    face = (900, 600, 1000, 700)  # near the bottom edge: the crop is clamped
    frame[face[1] : face[3], face[0] : face[2]] = 255
    crop = portrait_box(face, 1280, 720)
    image = frame[crop[1] : crop[3], crop[0] : crop[2]]
    (line,) = crop_labels(face, [], crop)
    _, x1, y1, x2, y2 = yolo_to_box(line, image.shape[1], image.shape[0])
    inside = image[round(y1) : round(y2), round(x1) : round(x2)]
    assert inside.size == 100 * 100 and inside.min() == 255
    assert image.sum() == inside.sum()  # all the face is inside the labelled box


def test_other_faces_in_crop_get_lines_and_far_ones_do_not():
    face, crop = (500, 300, 600, 400), (450, 220, 650, 487)
    near = (600, 300, 680, 380)  # 62% inside: labelled
    far = (1000, 300, 1100, 400)
    partly = (640, 300, 740, 400)  # 10% inside: not labelled
    lines = crop_labels(face, [near, far, partly], crop)
    assert lines == [yolo_line(face, crop), yolo_line(near, crop)]
    assert yolo_line(far, crop) is None and yolo_line(partly, crop) is None
    _, x1, _, x2, _ = yolo_to_box(lines[1], crop[2] - crop[0], crop[3] - crop[1])
    assert (x1 + crop[0], x2 + crop[0]) == (600, 650)  # clipped to the crop
