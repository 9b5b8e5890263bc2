"""Build examples/demo.mp4 from real face photos shipped inside a registry package.

The `insightface` wheel on PyPI ships a group photo of six people (data/images/t1.jpg) and a
portrait (Tom_Hanks_54745.png). This script fetches the wheel with `pip download --no-deps`
(it is never installed), reads the two images out of it, and renders a 40 s clip in which a
virtual camera pans and zooms across the group so that each person recurs in several shots.

usage: python examples/make_demo_clip.py [OUT.mp4]
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
WHEEL_SPEC = "insightface==2.1"
GROUP, PORTRAIT = "insightface/data/images/t1.jpg", "insightface/data/images/Tom_Hanks_54745.png"
SIZE, FPS = (640, 360), 25
# Shots: (camera window at start, window at end, seconds); windows are x, y, width on the
# 1280x886 group photo (height follows 16:9). None = the portrait shot.
SHOTS = [
    ((0, 120, 640), (160, 150, 560), 4),
    ((380, 180, 560), (640, 200, 600), 4),
    ((700, 0, 580), (660, 40, 520), 4),
    (None, None, 4),
    ((0, 60, 1280), (100, 100, 1000), 4),
    ((200, 120, 480), (380, 180, 460), 4),
    ((860, 150, 420), (700, 190, 560), 4),
    ((40, 180, 520), (0, 140, 640), 4),
    (None, None, 4),
    ((560, 40, 700), (420, 100, 640), 4),
]


def fetch_images() -> tuple[np.ndarray, np.ndarray]:
    """The group photo and the portrait, read from the insightface wheel (downloaded once)."""
    CACHE.mkdir(exist_ok=True)
    wheels = sorted(CACHE.glob("insightface-*.whl"))
    if not wheels:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-q",
            "-d",
            str(CACHE),
            WHEEL_SPEC,
        ]
        if subprocess.run(cmd).returncode != 0:
            sys.exit("could not download the insightface wheel from PyPI; check the network")
        wheels = sorted(CACHE.glob("insightface-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as z:
        decode = lambda name: cv2.imdecode(np.frombuffer(z.read(name), np.uint8), 1)  # noqa: E731
        return decode(GROUP), decode(PORTRAIT)


def window(a: tuple, b: tuple, u: float, shape: tuple) -> np.ndarray:
    """Camera window (x, y, w, h) interpolated between a and b, kept inside the photo."""
    x, y, w = (np.array(a, float) * (1 - u) + np.array(b, float) * u).tolist()
    h = w * SIZE[1] / SIZE[0]
    x = min(max(0.0, x), shape[1] - w)
    y = min(max(0.0, y), shape[0] - h)
    return np.array([x, y, w, h])


def render(out: Path) -> None:
    group, portrait = fetch_images()
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    if not writer.isOpened():
        sys.exit(f"cannot write {out}")
    backdrop = cv2.GaussianBlur(cv2.resize(group, SIZE), (0, 0), 25)
    for start, end, seconds in SHOTS:
        n = seconds * FPS
        for i in range(n):
            u = i / max(1, n - 1)
            if start is None:
                frame = backdrop.copy()
                side = int(150 + 40 * u)
                face = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_CUBIC)
                x0, y0 = int(120 + 300 * u), (SIZE[1] - side) // 2
                frame[y0 : y0 + side, x0 : x0 + side] = face
            else:
                x, y, w, h = window(start, end, u, group.shape)
                m = np.array(
                    [[SIZE[0] / w, 0, -x * SIZE[0] / w], [0, SIZE[1] / h, -y * SIZE[1] / h]]
                )
                frame = cv2.warpAffine(group, m, SIZE, flags=cv2.INTER_AREA)
            writer.write(frame)
    writer.release()
    print(f"wrote {out} ({sum(s[2] for s in SHOTS)} s, {SIZE[0]}x{SIZE[1]}, {FPS} fps)")


if __name__ == "__main__":
    render(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "demo.mp4")
