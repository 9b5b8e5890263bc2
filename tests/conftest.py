"""Shared fixtures: the real-face data folder, and tiny synthetic videos made on the fly."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BITS = 12  # frame index coded as 12 black/white squares along the top
CLI = [sys.executable, "-m", "clusterpipe"]


def run_args(video, out, *extra) -> list[str]:
    """argv of `clusterpipe run VIDEO --out OUT --no-progress EXTRA...` in a subprocess."""
    return [*CLI, "run", str(video), "--out", str(out), "--no-progress", *map(str, extra)]


def pytest_collection_modifyitems(items) -> None:
    """Tests that use the real faces (data_dir, directly or through another fixture) are
    marked `data`, so `-m "not data"` runs where ../shared/data is absent."""
    for item in items:
        if "data_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.data)


def data_root() -> Path:
    return Path(os.environ.get("CLUSTERPIPE_TEST_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """../shared/data (or $CLUSTERPIPE_TEST_DATA); skips the test where it is absent."""
    root = data_root()
    if not (root / "dev" / "footage.mp4").is_file():
        pytest.skip(f"real face data not found at {root} (set CLUSTERPIPE_TEST_DATA)")
    return root


def write_video(path: Path, frames, fps: float, size: tuple[int, int]) -> Path:
    """Write BGR frames to an mp4 (mp4v) file."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened(), f"cannot write {path}"
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def read_frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """A video's BGR frames (the first `limit` of them)."""
    cap, frames = cv2.VideoCapture(str(path)), []
    while limit is None or len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def coded_frame(index: int, size: tuple[int, int]) -> np.ndarray:
    """A frame whose index can be read back after lossy compression."""
    w, h = size
    img = np.full((h, w, 3), 128, np.uint8)
    side = w // BITS
    for b in range(BITS):
        if index >> b & 1:
            img[:side, b * side : (b + 1) * side] = 255
        else:
            img[:side, b * side : (b + 1) * side] = 0
    return img


def read_code(img: np.ndarray) -> int:
    """Inverse of coded_frame, on a frame of any size with the same aspect."""
    h, w = img.shape[:2]
    side = w / BITS
    value = 0
    for b in range(BITS):
        cell = img[
            int(side * 0.25) : int(side * 0.75), int((b + 0.25) * side) : int((b + 0.75) * side)
        ]
        if cell.mean() > 128:
            value |= 1 << b
    return value


@pytest.fixture
def coded_video(tmp_path):
    """Factory: a synthetic video of n frames at fps whose frames carry their own index."""

    def make(n: int = 90, fps: float = 30.0, size=(480, 270), name="coded.mp4") -> Path:
        return write_video(tmp_path / name, (coded_frame(i, size) for i in range(n)), fps, size)

    return make


def _fit(img: np.ndarray, h: int) -> np.ndarray:
    return cv2.resize(img, (round(img.shape[1] * h / img.shape[0]), h))


@pytest.fixture(scope="session")
def faces_video(data_dir, tmp_path_factory) -> Path:
    """A 24 s, 640x360 clip of real faces: two people side by side, shots of 3 s, 10 fps."""
    photos = data_dir / "dev" / "photos"
    people = [
        sorted((photos / p).glob("*"))
        for p in ("dlib_John_Salley", "dlib_John_Schneider", "fr_obama")
    ]
    size = (640, 360)
    frames = []
    pairs = [(0, 1), (1, 2), (0, 2), (1, 0), (2, 1), (0, 1), (2, 0), (1, 2)]
    for shot, (a, b) in enumerate(pairs):
        canvas = np.full((size[1], size[0], 3), 40, np.uint8)
        for slot, person in enumerate((a, b)):
            img = _fit(cv2.imread(str(people[person][shot % len(people[person])])), 300)
            img = img[:, :310] if img.shape[1] > 310 else img
            x0 = 10 + slot * 320
            canvas[30 : 30 + img.shape[0], x0 : x0 + img.shape[1]] = img
        frames += [canvas] * 30
    path = tmp_path_factory.mktemp("faces") / "two faces.mp4"
    return write_video(path, frames, 10.0, size)


def write_mp4(
    path: Path,
    n: int,
    fps: float,
    size=(320, 180),
    faststart: bool = True,
    pts_ms: list[int] | None = None,
    frame=coded_frame,
    codec: str = "mpeg4",
    codec_options: dict | None = None,
) -> Path:
    """An mp4 of coded frames via PyAV: moov first (faststart) or last, optional VFR."""
    from fractions import Fraction

    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as c:
        s = c.add_stream(codec, rate=round(fps))
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options = codec_options or {}
        if pts_ms is not None:
            s.codec_context.time_base = s.time_base = Fraction(1, 1000)
        for i in range(n):
            f = av.VideoFrame.from_ndarray(frame(i, size), format="bgr24")
            if pts_ms is not None:
                f.pts, f.time_base = pts_ms[i], Fraction(1, 1000)
            for packet in s.encode(f):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


@pytest.fixture(scope="session")
def dev_run(data_dir, tmp_path_factory):
    """`clusterpipe run` of the dev footage with the defaults (shared by several tests)."""
    import subprocess
    import time

    out = tmp_path_factory.mktemp("dev") / "out"
    t0 = time.perf_counter()
    result = subprocess.run(
        run_args(data_dir / "dev" / "footage.mp4", out), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    print(f"dev footage run: {time.perf_counter() - t0:.1f} s wall")
    return out


@pytest.fixture(autouse=True, scope="session")
def _one_faiss_thread_per_worker():
    """Two test workers on two cores: faiss's OpenMP threads would spin against each other
    (a 1-s gallery test took 23 s)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import faiss

        faiss.omp_set_num_threads(1)
    yield
