"""The benchmark clip: long 1080p H.264 with a long keyframe interval, made from real faces.

The faces come from the insightface wheel's group photo (as the demo clip's do); a virtual
camera pans and zooms over it so that faces move and recur. Cached in bench/.cache/.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).resolve().parent / ".cache"


def make_clip(minutes: float = 10.0, gop: int = 250, size=(1920, 1080), fps: int = 30) -> Path:
    """Path of the cached clip, rendering it first if needed (libx264, B-frames, GOP `gop`)."""
    import av

    sys.path.insert(0, str(ROOT / "examples"))
    from make_demo_clip import fetch_images

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"faces_{size[1]}p_gop{gop}_{minutes:g}min.mp4"
    if path.exists():
        return path
    group, _ = fetch_images()
    tmp = path.with_suffix(".tmp.mp4")
    n = int(minutes * 60 * fps)
    gh, gw = group.shape[:2]
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.codec_context.gop_size = gop
        # x264's own settings go through x264-params (unknown top-level options are ignored).
        s.options = {
            "preset": "veryfast",
            "crf": "23",
            "x264-params": f"bframes=3:keyint={gop}:min-keyint={gop}:scenecut=0",
        }
        s.codec_context.time_base = Fraction(1, fps)
        for i in range(n):
            u = (i % (fps * 20)) / (fps * 20)  # a 20 s pan/zoom cycle, repeated
            w = gw * (0.55 + 0.35 * abs(np.sin(np.pi * u)))
            h = w * size[1] / size[0]
            x = (gw - w) * u
            y = (gh - h) * 0.5 * (1 + np.sin(2 * np.pi * u)) / 2
            sx, sy = size[0] / w, size[1] / h
            m = np.array([[sx, 0, -x * sx], [0, sy, -y * sy]])
            frame = cv2.warpAffine(group, m, size, flags=cv2.INTER_LINEAR)
            f = av.VideoFrame.from_ndarray(frame, format="bgr24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.rename(path)
    return path


if __name__ == "__main__":
    print(make_clip(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0))
