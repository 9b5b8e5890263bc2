"""report.html renders in a real headless browser from file://, with its images."""

import shutil
import subprocess

import cv2
import numpy as np
import pytest

from clusterpipe.generate.report import render, write_report
from clusterpipe.store.records import Face, VideoInfo
from clusterpipe.store.runinfo import RunInfo, RunInput
from tests.helpers import CHROMIUM_FLAGS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _faces(n_clusters: int, per: int, noise: int) -> list[Face]:
    faces = []
    for c in range(n_clusters):
        for i in range(per + c % 3):
            t = float(c * 7 + i)
            faces.append(
                Face(
                    f"v-{int(t * 30):07d}-{c}",
                    "/v.mp4",
                    int(t * 30),
                    t,
                    (0, 0, 10, 10),
                    [0.0] * 128,
                    c,
                )
            )
    for i in range(noise):
        faces.append(Face(f"v-{i:07d}-9", "/v.mp4", i, float(i), (0, 0, 1, 1), [0.0] * 128, -1))
    return faces


def _video(duration_s: float) -> RunInput:
    return RunInput(VideoInfo("/v.mp4", "v", 640, 360, 25.0, 0, duration_s, 0))


def test_report_lists_clusters_by_size_with_lazy_images():
    faces = _faces(300, 2, 5)
    page = render(faces, RunInfo(inputs=[_video(3000)], settings={"eps": 0.5}))
    assert page.count("class='card'") == 300
    assert page.count("loading='lazy'") == 305
    first = page.index("Face_2 &middot;")  # 4 faces: among the largest
    assert first < page.index("Face_0 &middot;")  # 2 faces
    assert "src='montages/Face_2.jpg'" in page and "href='clusters/Face_2/'" in page
    assert "<svg" in page and "eps" in page


def test_report_shows_where_the_time_went_and_the_person_space():
    times = {"detect_encode": 10.0, "cluster": 0.5, "total": 11.0, "detect_cpu": 4.0}
    times |= {"detect_encode_cpu": 16.0, "reader_cpu": 2.0}
    page = render(_faces(3, 2, 5), RunInfo(times_s=times, person_space=None))
    assert "Where the time went" in page
    assert (
        "wall: detection + encoding</th><td>10.00 s</td><td><div class='bar' style='width:300px'>"
        in (page)
    )
    assert (
        "CPU: detection + encoding</th><td>16.00 s</td><td><div class='bar' style='width:300px'>"
        in (page)
    )
    assert (
        "CPU: reader (decoding)</th><td>2.00 s</td><td><div class='bar' style='width:38px'>" in page
    )
    assert "Where the time went" not in render(_faces(3, 2, 5), RunInfo())


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path):
    out = tmp_path / "out"
    (out / "montages").mkdir(parents=True)
    (out / "noise").mkdir()
    faces = _faces(3, 4, 2)
    red = np.zeros((128, 576, 3), np.uint8)
    red[:, :, 2] = 255  # a pure red montage: visible in the screenshot only if it loaded
    for c in range(3):
        cv2.imwrite(str(out / "montages" / f"Face_{c}.jpg"), red)
    write_report(
        out,
        faces,
        RunInfo(inputs=[_video(30)], counts={"faces": len(faces)}),
    )
    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM,
        "--headless",
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,900",
        "--virtual-time-budget=3000",
        f"--screenshot={shot}",
        (out / "report.html").as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120)
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (900, 1280)
    is_red = (img[:, :, 2] > 200) & (img[:, :, 1] < 60) & (img[:, :, 0] < 60)
    assert is_red.sum() > 20000  # the montages loaded through relative file:// links
    assert img.std() > 10  # not a blank page
