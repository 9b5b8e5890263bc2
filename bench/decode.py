"""Sampling strategies side by side on the benchmark clip: speed and exactness.

Every strategy must return, for each whole second k, the first frame at or after k s.
usage: python bench/decode.py [--seconds 120] [--fps 1] [--gop 250 --minutes 10]
(the first SECONDS of the clip; --gop 30 --minutes 2 renders a clip with a keyframe every
second, as streaming and broadcast footage has)
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clip import make_clip

from clusterpipe.sample.video import sample_frames


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def opencv_read_all(path, fps, until):
    cap = cv2.VideoCapture(path)
    i, k, out = -1, 0, []
    while True:
        ok, img = cap.read()
        if not ok or cap.get(cv2.CAP_PROP_POS_MSEC) / 1000 > until:
            break
        i += 1
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000
        if t + 5e-4 >= k / fps:
            out.append((round(t, 3), img))
            while k / fps <= t + 5e-4:
                k += 1
    return out


def _library(decoder):
    def strategy(path, fps, until):
        out = []
        for s in sample_frames(path, fps, decoder=decoder, until=lambda t: t > until):
            out.append((s.time_s, s.image))
        return out

    return strategy


opencv_grab_retrieve = _library("opencv")
opencv_grab_retrieve.__name__ = "opencv_grab_retrieve"
pyav_skip_unneeded = _library("pyav")
pyav_skip_unneeded.__name__ = "pyav_skip_unneeded"


def opencv_seek(path, fps, until):
    cap = cv2.VideoCapture(path)
    out = []
    for k in range(int(until * fps) + 1):
        cap.set(cv2.CAP_PROP_POS_MSEC, 1000 * k / fps)
        ok, img = cap.read()
        if ok:
            out.append((round(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000, 3), img))
    return out


def pyav_decode_all(path, fps, until):
    import av

    out, k = [], 0
    with av.open(path) as c:
        s = c.streams.video[0]
        tb = s.time_base
        for f in c.decode(s):
            t = float(f.pts * tb)
            if t > until:
                break
            if t + 5e-4 >= k / fps:
                out.append((round(t, 3), f.to_ndarray(format="bgr24")))
                while k / fps <= t + 5e-4:
                    k += 1
    return out


def pyav_keyframe_seek(path, fps, until):
    import av

    out = []
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        tb = s.time_base
        for k in range(int(until * fps) + 1):
            target = k / fps
            c.seek(int(target / tb), stream=s, backward=True, any_frame=False)
            for f in c.decode(s):
                t = float(f.pts * tb)
                if t + 5e-4 >= target:
                    out.append((round(t, 3), f.to_ndarray(format="bgr24")))
                    break
    return out


STRATEGIES = [
    opencv_read_all,
    opencv_grab_retrieve,
    opencv_seek,
    pyav_decode_all,
    pyav_skip_unneeded,
    pyav_keyframe_seek,
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--fps", type=float, default=1.0)
    ap.add_argument("--gop", type=int, default=250, help="keyframe interval of the clip")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the clip")
    a = ap.parse_args()
    path = str(make_clip(a.minutes, gop=a.gop))
    video_s = a.seconds
    ref = None
    print(f"clip: {path}")
    print(f"{'strategy':>22} {'wall s':>7} {'cpu s':>7} {'video s/wall s':>14} {'exact':>6}")
    for strategy in STRATEGIES:
        c0, t0 = cpu(), time.perf_counter()
        got = strategy(path, a.fps, a.seconds)
        wall, used = time.perf_counter() - t0, cpu() - c0
        if ref is None:
            ref = got
        exact = len(got) == len(ref) and all(
            abs(t - rt) < 1e-3 and np.abs(img.astype(int) - rimg).mean() < 2.0
            for (t, img), (rt, rimg) in zip(got, ref)
        )
        print(
            f"{strategy.__name__:>22} {wall:>7.2f} {used:>7.2f} {video_s / wall:>14.1f} "
            f"{str(exact):>6}",
            flush=True,
        )


if __name__ == "__main__":
    main()
