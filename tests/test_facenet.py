"""FaceNet on OpenCV's dnn against TensorFlow's own run of the same graph."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from clusterpipe import facenet

REFERENCE = Path(__file__).parent / "data" / "facenet_reference.json"


@pytest.fixture(scope="module")
def net():
    return facenet.FaceNet()


def test_embeddings_equal_tensorflows(net, data_dir):
    ref = json.loads(REFERENCE.read_text())["faces"]
    assert len(ref) >= 6
    for face in ref:
        rgb = cv2.cvtColor(cv2.imread(str(data_dir / face["photo"])), cv2.COLOR_BGR2RGB)
        emb = net.embed(rgb, [face["box"]])[0]
        theirs = np.array(face["embedding"], np.float32)
        assert np.linalg.norm(emb) == pytest.approx(1, abs=1e-4)
        assert np.abs(emb - theirs).max() < 1e-5, face["photo"]  # measured: 7e-7


def test_two_people_are_far_apart(net, data_dir):
    ref = [f for f in json.loads(REFERENCE.read_text())["faces"] if "two_people" in f["photo"]]
    rgb = cv2.cvtColor(cv2.imread(str(data_dir / ref[0]["photo"])), cv2.COLOR_BGR2RGB)
    a, b = net.embed(rgb, [f["box"] for f in ref])
    assert np.linalg.norm(a - b) > 1.0


def test_chip_grows_the_box_and_stays_in_the_image():
    img = np.zeros((300, 400, 3), np.uint8)
    img[100:200, 150:250] = 255  # the "face"
    c = facenet.chip(img, (150, 100, 250, 200))
    assert c.shape == (160, 160, 3)
    # the box is 138/160 of the chip: a white square with a dark margin of ~11 px
    assert c[80, 80].min() == 255 and c[3, 3].max() == 0
    assert abs(int((c[80] > 127).all(axis=1).sum()) - 138) <= 2
    edge = facenet.chip(img, (-50, -50, 60, 60))
    assert edge.shape == (160, 160, 3)
