"""FaceNet on OpenCV's dnn against TensorFlow's own run of the same graph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from clusterpipe.encode import facenet

REFERENCE = Path(__file__).parents[1] / "data" / "facenet_reference.json"


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


def test_missing_tensorflow_importer_is_one_line_exit_2_before_any_video_is_opened(
    tmp_path, coded_video
):
    # OpenCV 5.1 has no cv2.dnn.readNetFromTensorflow: simulate it, and fail loudly if the run
    # gets as far as probing its videos.
    code = (
        "import sys, cv2\n"
        "del cv2.dnn.readNetFromTensorflow\n"
        "import clusterpipe.api as api\n"
        "def opened(*a, **k):\n    print('video opened'); sys.exit(9)\n"
        "api._probe_all = opened\n"
        "from clusterpipe.cli import main\n"
        "sys.argv = ['clusterpipe', *sys.argv[1:]]\n"
        "main()\n"
    )
    video = coded_video(n=10)
    args = ["run", str(video), "--out", str(tmp_path / "o"), "--encoder", "facenet"]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "video opened" not in out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "TensorFlow importer" in lines[0]
    assert "pip install 'clusterpipe[facenet]'" in lines[0]
    assert not (tmp_path / "o").exists()
