"""End-to-end `clusterpipe run` on a long 1080p clip: throughput, overhead ratio, speed-up.

overhead ratio = wall time / (detector + encoder CPU time summed over workers / workers):
1.0 means the run costs nothing beyond detection and encoding spread over the workers.
"other cpu s" is the CPU of every process of the run (decoding, resizing, crops, queues,
shards, Dask) minus detection + encoding: what the overhead is made of. With the local engine it
is split into the reader (decoding), the rest of the encoder processes' work (start-up, resizing,
crops, signatures) and the rest of the run (the parent: shards, clustering, generation).
usage: python bench/pipeline.py [--minutes 10] [--workers 1,2] [--engine local|dask|both] [--fast]
                                [--gop 250]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clip import make_clip


def _children_cpu() -> float:
    """CPU seconds of every finished descendant (the run and all its processes)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(
    video: Path, workers: int, engine: str, extra: tuple[str, ...] = (), keep: bool = False
) -> dict:
    """One `clusterpipe run` and its figures; with keep, its OUT is kept (r["out"])."""
    out = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    try:
        t0 = time.perf_counter()
        c0 = _children_cpu()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "clusterpipe",
                "-q",
                "run",
                str(video),
                "--out",
                str(out),
                "--workers",
                str(workers),
                "--engine",
                engine,
                "--no-progress",
                *extra,
            ],
            check=True,
        )
        wall = time.perf_counter() - t0
        total_cpu = _children_cpu() - c0
        info = json.loads((out / "run.json").read_text())
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
    cpu = info["times_s"]["detect_encode_cpu"]
    reader = info["times_s"].get("reader_cpu", 0.0)
    encoders = info["times_s"].get("encoder_process_cpu", 0.0)
    return {
        "split": (reader, encoders - cpu, total_cpu - reader - encoders) if encoders else None,
        "workers": workers,
        "engine": engine,
        "wall_s": wall,
        "cpu_s": cpu,
        "total_cpu_s": total_cpu,
        "overhead": wall / (cpu / workers),
        "frames": info["counts"]["frames_encoded_now"],
        "faces": info["counts"]["faces"],
        "stages": info["times_s"],
        "out": out if keep else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--engine", default="local", choices=["local", "dask", "both"])
    ap.add_argument("--fast", action="store_true", help="run with --fast (no fine pass)")
    ap.add_argument("--gop", type=int, default=250, help="keyframe interval of the clip")
    a = ap.parse_args()
    video = make_clip(a.minutes, gop=a.gop)
    video_s = a.minutes * 60
    engines = ["local", "dask"] if a.engine == "both" else [a.engine]
    print(f"clip: {video} ({video_s:.0f} s of 1080p, GOP {a.gop})")
    print(
        f"{'engine':>6} {'workers':>7} {'wall s':>7} {'det+enc cpu s':>13} {'overhead':>8} "
        f"{'video s/wall s':>14} {'frames':>6} {'faces':>6} {'all cpu s':>9} {'other cpu s':>11}"
    )
    results = {}
    for engine in engines:
        for w in map(int, a.workers.split(",")):
            r = run_once(video, w, engine, ("--fast",) if a.fast else ())
            results[(engine, w)] = r
            print(
                f"{engine:>6} {w:>7} {r['wall_s']:>7.1f} {r['cpu_s']:>13.1f} "
                f"{r['overhead']:>8.3f} {video_s / r['wall_s']:>14.2f} {r['frames']:>6} "
                f"{r['faces']:>6} {r['total_cpu_s']:>9.1f} {r['total_cpu_s'] - r['cpu_s']:>11.1f}",
                flush=True,
            )
            print(f"        stages: {r['stages']}", flush=True)
            if r["split"]:
                print(
                    "        other cpu s: reader (decode) {:.1f}, encoder processes beyond "
                    "det+enc {:.1f}, rest of the run {:.1f}".format(*r["split"]),
                    flush=True,
                )
    for engine in engines:
        if (engine, 1) in results and (engine, 2) in results:
            speedup = results[(engine, 1)]["wall_s"] / results[(engine, 2)]["wall_s"]
            print(f"{engine}: speed-up 1 -> 2 workers: {speedup:.3f}")
    if ("local", 2) in results and ("dask", 2) in results:
        ratio = results[("local", 2)]["wall_s"] / results[("dask", 2)]["wall_s"]
        print(f"dask (LocalCluster, 2 workers) throughput / local engine: {ratio:.3f}")


if __name__ == "__main__":
    main()
