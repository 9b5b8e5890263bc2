"""Gallery search at scale: exact search against the index `--index auto` chooses and tunes.

usage: python bench/gallery.py [--sizes 100000,1000000] [--queries 1000] [--distractors 1000000]

For each size, a synthetic gallery of named people (testing.gallery_like: several faces per
person, along a decaying spectrum of directions as learned embeddings vary; not uniform noise)
is searched with new faces of its people by:
- flat: exact search (IndexFlatL2), the reference;
- auto: the index `promote --index auto` builds under the default budgets (4GB, 10 ms);
- auto/k: the same under a memory budget of 1/k of flat's (--fractions).
It prints build time, index bytes, query ms at batch 1 and per face at batch 1000, and recall@1
against exact search (all queries, and those with a match within dlib's 0.5). Then the dev
photos: a real gallery (half of each person's photos) padded with --distractors synthetic faces,
queried with the other photos through `identify`, flat against auto under 1/8 of flat's memory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import faiss
import numpy as np

from clusterpipe.config import EncodeSettings, IndexSettings
from clusterpipe.gallery import index as gallery_index
from clusterpipe.gallery.identify import identify
from clusterpipe.gallery.store import DEFAULT_THRESHOLD, Gallery

# tests/helpers.py (synthetic data, browser flags) is beside the package, not in it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import gallery_like

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _single_ms(index, plan, vectors, queries, count=200) -> float:
    t = time.perf_counter()
    for q in queries[:count]:
        gallery_index.search(index, plan, vectors, q[None])
    return (time.perf_counter() - t) * 1000 / min(count, len(queries))


def _batch_ms(index, plan, vectors, queries) -> float:
    t = time.perf_counter()
    gallery_index.search(index, plan, vectors, queries)
    return (time.perf_counter() - t) * 1000 / len(queries)


def _nearest(base: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Exact distance from each query to its nearest gallery face."""
    return gallery_index.exact_search(base, np.ascontiguousarray(queries, np.float32), 1)[0][:, 0]


def scale(sizes: list[int], n_queries: int, fractions: list[int]) -> None:
    print(
        f"{'faces':>9} {'index':>18} {'build s':>8} {'MB':>8} {'of flat':>7} {'ms b=1':>7} "
        f"{'ms/face b=1000':>14} {'recall@1':>8} {'matched':>8} {'nprobe':>6}"
    )
    rates: dict[int, float] = {}
    for n in sizes:
        x, _ = gallery_like(n + n_queries, seed=n)
        base, queries = x[:n], x[n:]  # new faces of the gallery's people
        truth = _nearest(base, queries)
        flat_bytes = n * 128 * 4
        matched = truth <= DEFAULT_THRESHOLD
        runs = [("flat", IndexSettings("flat")), ("auto", IndexSettings())]
        runs += [(f"auto/{k}", IndexSettings("auto", str(flat_bytes // k))) for k in fractions]
        for name, settings in runs:
            t = time.perf_counter()
            index, plan = gallery_index.build(base, settings, DEFAULT_THRESHOLD)
            build = time.perf_counter() - t
            size = len(faiss.serialize_index(index))
            dist, _ = gallery_index.search(index, plan, base, queries)
            hit = dist[:, 0] <= truth + 1e-5
            # exact search of 10M faces takes a second a query: fewer single queries there
            b1 = _single_ms(index, plan, base, queries, 20 if plan.exact and n > 2e6 else 200)
            b1000 = _batch_ms(index, plan, base, queries[:1000])
            print(
                f"{n:>9} {name + ' ' + plan.key:>18} {build:>8.1f} {size / 1e6:>8.1f} "
                f"{size / flat_bytes:>7.3f} {b1:>7.3f} {b1000:>14.4f} {hit.mean():>8.4f} "
                f"{hit[matched].mean():>8.4f} {plan.nprobe:>6}",
                flush=True,
            )
            if name == "flat":
                rates[n] = b1 * 1e6 / (n * 128)
            del index
    rate = rates[max(rates)]  # the largest gallery's: small ones are dominated by fixed costs
    print(
        f"exact search measured {rate:.3f} ns per stored value (shipped FLAT_NS_PER_VALUE "
        f"{gallery_index.FLAT_NS_PER_VALUE}): 10 ms a face at {10e6 / rate / 128:,.0f} dlib faces"
    )


def _largest_face(encoder, path: Path, settings: EncodeSettings):
    from clusterpipe.encode.frame import detect_and_encode

    image = cv2.imread(str(path))
    if image is None:
        return None
    found = detect_and_encode(encoder, image, settings)
    if not len(found.boxes):
        return None
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in found.boxes]
    return np.asarray(found.encodings[int(np.argmax(areas))], np.float32)


def dev_photos(distractors: int) -> None:
    from clusterpipe.encode.dlib import FaceEncoder

    photos = DATA / "dev" / "photos"
    if not photos.is_dir():
        print(f"dev photos not found at {photos}: identify accuracy skipped")
        return
    settings = EncodeSettings()
    encoder = FaceEncoder(settings)
    gallery_vectors, entries, queries = [], [], []
    for person in sorted(p for p in photos.iterdir() if p.is_dir()):
        files = sorted(person.glob("*.jpg"))
        half = max(1, len(files) // 2)
        for f in files[:half]:
            v = _largest_face(encoder, f, settings)
            if v is not None:
                gallery_vectors.append(v)
                entries.append({"name": person.name, "run": "dev", "face_id": f.name})
        queries += [(f, person.name) for f in files[half:]]
    real = np.vstack(gallery_vectors)
    pad, _ = gallery_like(distractors, seed=7)
    # strangers around the real faces' mean, at the spread of dlib's different-people distances
    pad += real.mean(axis=0)
    vectors = np.vstack([real, pad]).astype(np.float32)
    names = entries + [
        {"name": f"stranger{i}", "run": "pad", "face_id": f"s{i}"} for i in range(distractors)
    ]
    near = _nearest(pad, real)
    same = [
        np.linalg.norm(real[i] - real[j])
        for i in range(len(real))
        for j in range(i)
        if entries[i]["name"] == entries[j]["name"]
    ]
    print(
        f"\ndev photos: {len(real)} gallery faces of {len({e['name'] for e in entries})} people "
        f"+ {distractors} strangers; {len(queries)} query photos. Nearest stranger to a real "
        f"face: median {np.median(near):.3f}, min {near.min():.3f} (same person, real: median "
        f"{np.median(same):.3f})"
    )
    budget = str(len(vectors) * 128 * 4 // 8)
    for label, settings_ in (
        ("flat", IndexSettings("flat")),
        ("auto/8", IndexSettings("auto", budget)),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            g = Gallery(Path(tmp) / "g", names, vectors, settings=settings_)
            g.save()
            build = time.perf_counter() - t
            t = time.perf_counter()
            answers = {}
            for rec in identify([str(f) for f, _ in queries], Path(tmp) / "g"):
                answers.setdefault(rec.input, []).append(rec.name)
            ms = (time.perf_counter() - t) * 1000 / len(queries)
            right = sum(name in answers.get(str(f), []) for f, name in queries)
            print(
                f"  {label:>7} {g.plan.key:>18}: {right}/{len(queries)} photos named right "
                f"({right / len(queries):.3f}); build+save {build:.1f} s; identify "
                f"{ms:.0f} ms a photo (detection and encoding included)",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--distractors", type=int, default=1_000_000)
    ap.add_argument(
        "--fractions", default="16", help="also auto under 1/k of flat's memory, for each k"
    )
    a = ap.parse_args()
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads", file=sys.stderr)
    fractions = [int(k) for k in a.fractions.split(",") if k]
    scale([int(s) for s in a.sizes.split(",")], a.queries, fractions)
    if a.distractors:
        dev_photos(a.distractors)


if __name__ == "__main__":
    main()
