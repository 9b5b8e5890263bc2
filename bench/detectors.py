"""Detectors compared on one 1080p clip in one run: CPU per sampled frame, split by stage.

Runs `clusterpipe run` three times on the same video: the plain pipeline (hog at 700x500 +
dlib), the previous defaults (hog + the 1280x720 fine pass) and today's defaults (mtcnn), and
prints CPU seconds per sampled frame split into decode (the reader process), detect, encode
(dlib's landmarks + descriptor) and the rest (resizing, crops, shards, clustering, start-up),
with the ratios the detection issue asks for. The video is dev_hard's 1080p hard footage where
../shared/data is present (or $CLUSTERPIPE_TEST_DATA), else the benchmark clip.
With --score, each run is also scored against the footage's ground truth.
usage: python bench/detectors.py [--video PATH] [--workers 2] [--score]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clip import make_clip
from pipeline import run_once

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "plain (hog@700)": ("--detector", "hog", "--fine-size", "0"),
    "previous defaults (hog + fine pass)": ("--detector", "hog", "--fine-size", "1280x720"),
    "defaults (mtcnn)": (),
}


def _data() -> Path:
    return Path(os.environ.get("CLUSTERPIPE_TEST_DATA", ROOT.parent / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--video", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--score", action="store_true", help="score each run (needs ground truth)")
    a = ap.parse_args()
    video = a.video
    if video is None:
        hard = _data() / "dev_hard" / "footage_hard.mp4"
        video = hard if hard.is_file() else make_clip(10.0)
    truth = video.parent / "ground_truth.json"
    print(f"video: {video}, {a.workers} workers")
    print(
        f"{'':>36} {'frames':>6} {'faces':>5} | CPU s per frame: {'decode':>6} {'detect':>6} "
        f"{'encode':>6} {'rest':>6} {'total':>6} | {'wall s':>6}"
    )
    rows = {}
    for name, extra in CONFIGS.items():
        r = run_once(video, a.workers, "local", extra, keep=a.score)
        t, n = r["stages"], r["frames"]
        decode = t.get("reader_cpu", 0.0)
        detect = t["detect_cpu"]
        encode = t["detect_encode_cpu"] - detect
        rest = r["total_cpu_s"] - decode - detect - encode
        rows[name] = row = {
            "decode": decode / n,
            "detect": detect / n,
            "encode": encode / n,
            "rest": rest / n,
            "total": r["total_cpu_s"] / n,
            "run": r["total_cpu_s"],
            "faces": r["faces"],
            "encode_ms_face": 1000 * encode / max(1, r["faces"]),
        }
        print(
            f"{name:>36} {n:>6} {r['faces']:>5} | {'':>16} {row['decode']:>6.3f} "
            f"{row['detect']:>6.3f} {row['encode']:>6.3f} {row['rest']:>6.3f} "
            f"{row['total']:>6.3f} | {r['wall_s']:>6.1f}",
            flush=True,
        )
        if a.score and truth.is_file():
            score = (
                subprocess.run(
                    [sys.executable, str(_data().parent / "tools" / "score.py"), str(truth)]
                    + [str(r["out"] / "faces.jsonl")],
                    capture_output=True,
                    text=True,
                )
                .stdout.strip()
                .splitlines()
            )
            print(f"{'':>36} {score[-1] if score else 'no score'}", flush=True)
        if r.get("out"):
            shutil.rmtree(r["out"], ignore_errors=True)
    plain, prev, new = (rows[k] for k in CONFIGS)
    print(
        "defaults / previous defaults, whole-run CPU per frame: "
        f"{new['total'] / prev['total']:.3f} (target <= 0.5)"
    )
    print(
        "defaults / plain, detect + encode CPU per frame: "
        f"{(new['detect'] + new['encode']) / (plain['detect'] + plain['encode']):.3f}; "
        f"detect alone: {new['detect'] / plain['detect']:.3f}"
    )
    print(
        f"previous defaults / plain, whole-run CPU per frame: {prev['total'] / plain['total']:.3f}"
    )
    # Speed III's targets: the whole run's CPU, and CPU per face found
    print(
        f"defaults / plain, whole-run CPU: {new['run'] / plain['run']:.3f} (target <= 1.4); "
        f"CPU per face: {new['run'] / new['faces'] / (plain['run'] / plain['faces']):.3f} "
        f"(target <= 0.8); faces {new['faces']} / {plain['faces']}; encoding "
        f"{new['encode_ms_face']:.0f} / {plain['encode_ms_face']:.0f} ms a face"
    )


if __name__ == "__main__":
    main()
