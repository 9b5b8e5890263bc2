import subprocess
import sys

import cv2
import numpy as np
import pytest

from clusterpipe.config import EncodeSettings
from clusterpipe.encode.dlib import FaceEncoder
from clusterpipe.errors import ModelError
from clusterpipe.models import model_dir

HOG = EncodeSettings(detector="hog")  # face_recognition's own detector, for the oracle


@pytest.fixture(scope="module")
def two_people(data_dir):
    img = cv2.imread(str(data_dir / "dev" / "group_photos" / "two_people.jpg"))
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def test_detects_and_encodes_both_faces(two_people):
    boxes, enc = FaceEncoder(HOG)(two_people)
    assert boxes.shape == (2, 4) and enc.shape == (2, 128) and enc.dtype == np.float32
    assert boxes[0][0] < boxes[1][0]  # left to right
    assert 0.6 < np.linalg.norm(enc[0] - enc[1])  # two different people
    assert np.isfinite(enc).all() and (np.linalg.norm(enc, axis=1) > 0.5).all()


def test_encodings_equal_face_recognition(two_people):
    fr = pytest.importorskip("face_recognition", reason="face_recognition is the test oracle")
    locations = fr.face_locations(two_people, 1, "hog")
    theirs = np.array(fr.face_encodings(two_people, locations))
    boxes, ours = FaceEncoder(HOG)(two_people)
    order = np.argsort([left for _, _, _, left in locations])
    assert [
        [left, top, right, bottom]
        for top, right, bottom, left in np.array(locations)[order].tolist()
    ] == boxes.tolist()
    assert np.abs(theirs[order] - ours).max() < 1e-5


def test_works_without_pkg_resources(two_people, tmp_path):
    # face_recognition_models imports pkg_resources (gone in setuptools >= 82) and
    # face_recognition then quit()s silently; clusterpipe must not depend on it.
    code = (
        "import sys; sys.modules['pkg_resources'] = None\n"
        "import numpy as np\n"
        "from clusterpipe.encode.dlib import FaceEncoder\n"
        "from clusterpipe.config import EncodeSettings\n"
        f"img = np.load({str(tmp_path / 'img.npy')!r})\n"
        "boxes, enc = FaceEncoder(EncodeSettings(detector='hog'))(img)\n"
        "print('faces', len(enc))\n"
    )
    np.save(tmp_path / "img.npy", two_people)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "faces 2"


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="model file missing.*reinstall it with `pip install"):
        FaceEncoder(EncodeSettings(), folder=tmp_path)
    assert (model_dir() / "shape_predictor_5_face_landmarks.dat").is_file()


def test_a_damaged_dlib_model_is_caught_by_its_sha256(tmp_path):
    """One checker for every model file: dlib's are checked by size and SHA-256 too."""
    import shutil

    for name in (
        "shape_predictor_5_face_landmarks.dat",
        "dlib_face_recognition_resnet_model_v1.dat",
    ):
        shutil.copy(model_dir() / name, tmp_path / name)
    data = bytearray((tmp_path / "dlib_face_recognition_resnet_model_v1.dat").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte flipped: same size, another digest
    (tmp_path / "dlib_face_recognition_resnet_model_v1.dat").write_bytes(bytes(data))
    damaged = r"is damaged \(its SHA-256.*face_recognition_models==0.3.0"
    with pytest.raises(ModelError, match=damaged):
        FaceEncoder(EncodeSettings(detector="hog"), folder=tmp_path)


def test_missing_models_package_is_a_clear_cli_error(tmp_path, coded_video):
    # Hide the package, then run the real CLI: it must say what to install and exit 2 before
    # any work, never exit 0 silently.
    video = coded_video(n=20)
    code = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, *a: None if n == 'face_recognition_models' "
        "else real(n, *a)\n"
        "from clusterpipe.cli import main\n"
        f"sys.argv = ['clusterpipe', 'run', {str(video)!r}, '--out', {str(tmp_path / 'o')!r}]\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install face_recognition_models" in lines[0], out.stderr
    assert not (tmp_path / "o" / "shards").exists()
