"""Clustering at scale: scikit-learn's DBSCAN vs clusterpipe's FAISS DBSCAN, time and memory.

Each measurement runs in a fresh process so that its peak memory (max RSS) is its own.
usage: python bench/cluster.py [--sizes 10000,100000,1000000] [--sklearn-max 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

# tests/helpers.py (synthetic data, browser flags) is beside the package, not in it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(method: str, n: int) -> dict:
    """Run one clustering in this process; print a JSON line with time and peak memory."""
    import numpy as np

    from tests.helpers import face_like

    x, _ = face_like(n, seed=n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    if method == "sklearn":
        from sklearn.cluster import DBSCAN

        labels = DBSCAN(eps=0.5, min_samples=2).fit_predict(x.astype(np.float64))
    else:
        from clusterpipe.cluster.dbscan_faiss import faiss_dbscan

        labels = faiss_dbscan(x, 0.5, 2)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.save(f"/tmp/bench_cluster_{method}_{n}.npy", labels)
    return {
        "method": method,
        "n": n,
        "seconds": round(wall, 2),
        "peak_mb": round(peak / 1024),
        "data_mb": round(base / 1024),
        "clusters": int(labels.max() + 1),
        "noise": int((labels < 0).sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--sklearn-max", type=int, default=100000)
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure(a.one[0], int(a.one[1]))))
        return
    import numpy as np

    print(f"{'n':>9} {'method':>8} {'seconds':>8} {'peak MB':>8} {'clusters':>9} {'noise':>7}")
    for n in map(int, a.sizes.split(",")):
        for method in ("sklearn", "faiss"):
            if method == "sklearn" and n > a.sklearn_max:
                print(f"{n:>9} {'sklearn':>8} {'skipped: holds every eps-neighbourhood':>40}")
                continue
            out = subprocess.run(
                [sys.executable, __file__, "--one", method, str(n)], capture_output=True, text=True
            )
            if out.returncode != 0:
                print(f"{n:>9} {method:>8} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{n:>9} {method:>8} {r['seconds']:>8} {r['peak_mb']:>8} {r['clusters']:>9} "
                f"{r['noise']:>7}",
                flush=True,
            )
        if n <= a.sklearn_max:
            same = np.array_equal(
                np.load(f"/tmp/bench_cluster_sklearn_{n}.npy"),
                np.load(f"/tmp/bench_cluster_faiss_{n}.npy"),
            )
            print(f"{n:>9} same labels as scikit-learn: {same}")


if __name__ == "__main__":
    main()
