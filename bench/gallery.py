"""Gallery identification: latency and recall@1 of the index clusterpipe builds vs exact search.

usage: python bench/gallery.py [--sizes 10000,100000,1000000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from clusterpipe import gallery
from clusterpipe.testing import face_like


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=1000)
    a = ap.parse_args()
    faiss.omp_set_num_threads(2)
    print(
        f"{'size':>9} {'index':>14} {'build s':>8} {'ms/query':>9} {'exact ms/q':>10} "
        f"{'recall@1':>8} {'same-person@1':>13}"
    )
    for n in map(int, a.sizes.split(",")):
        x, labels = face_like(n + a.queries, seed=n)
        base, queries = x[:n], x[n:]
        exact = faiss.IndexFlatL2(128)
        exact.add(base)
        t = time.perf_counter()
        _, truth = exact.search(queries, 1)
        exact_ms = (time.perf_counter() - t) * 1000 / len(queries)
        for kind in ("flat", "hnsw"):
            saved = gallery.HNSW_MIN
            gallery.HNSW_MIN = 0 if kind == "hnsw" else n + 1
            t = time.perf_counter()
            index = gallery.build_index(base)
            build = time.perf_counter() - t
            gallery.HNSW_MIN = saved
            # One query at a time: the latency a user of `identify` sees per face.
            t = time.perf_counter()
            found = np.array([index.search(q[None], 1)[1][0, 0] for q in queries])
            ms = (time.perf_counter() - t) * 1000 / len(queries)
            recall = float((found == truth[:, 0]).mean())
            # What identify reports is the person: a different face of the same person is right.
            same = float((labels[:n][found] == labels[:n][truth[:, 0]]).mean())
            print(
                f"{n:>9} {type(index).__name__:>14} {build:>8.2f} {ms:>9.3f} {exact_ms:>10.3f} "
                f"{recall:>8.4f} {same:>13.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
