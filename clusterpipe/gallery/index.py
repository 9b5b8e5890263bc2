"""A gallery's FAISS index, chosen and tuned under a memory and query-time budget.

The method is AutoFaiss's (github.com/criteo/autofaiss): list the index_factory keys from the
most to the least accurate, keep the first whose size fits the memory budget, train it on a
sample, then raise nprobe on a held-back sample until recall reaches the target or the query
time its budget, and measure recall against exact search on a second sample. It is built on
faiss itself because autofaiss cannot live beside this stack: 2.18 requires numpy<2, which
holds OpenCV at 4.11 and conflicts with the facenet extra's OpenCV 5.0 (numpy>=2); pip then
falls back to autofaiss 2.9 from 2022 (README).

Unlike AutoFaiss, each answer of a compressed index is re-checked with exact distances against
the vectors the gallery keeps on disk (re-ranking), so thresholds mean what they mean with exact
search.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from ..config import IndexSettings
from ..errors import ClusterpipeError

log = logging.getLogger("clusterpipe")

FLAT = "Flat"
TARGET_RECALL = 0.99  # recall@1 against exact search the recorded plan should reach
# nprobe is raised until held-back faces reach this, a margin over the target: the recorded
# recall is measured again on other faces, and a tuning sample of 500 is noisy by about 0.005.
TUNE_RECALL = 0.995
RERANK = 64  # candidates of a compressed index re-checked with exact distances
MAX_RERANK = 4096  # the most a gallery.json may ask for
SAME = 1e-3  # in tuning, a face this near a held-back face is a copy of it (exact search
# computes distances as |x|^2 + |y|^2 - 2xy: a copy comes out at up to ~5e-4, not 0)
# Exact batch-1 search costs about this many ns per stored value here (bench/gallery.py, faiss
# 1.15: 5-7 ms at 100k dlib faces, 0.4-0.56 ns; 119 ms at 1M, 0.93 ns, once the vectors no
# longer fit the caches): the time budget's size limit for exact search (10 ms: ~130k faces).
FLAT_NS_PER_VALUE = 0.6
MIN_COMPRESSED = 1000  # fewer faces than this are always searched exactly
TUNE_QUERIES = 500  # held-back faces that nprobe is chosen on
CHECK_QUERIES = 1000  # other held-back faces that the recorded recall is measured on
TIME_QUERIES = 100  # single queries timed per nprobe
MIN_MATCHED = 50  # fewer matched held-back faces than this: recall is measured on all
ID_BYTES = 8  # an inverted list stores a 64-bit id beside each code
_KINDS: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "float": (int, float)}


@dataclass(frozen=True)
class IndexPlan:
    """The index a gallery uses, as recorded in gallery.json: its faiss key, search
    parameters and what was measured when it was built."""

    key: str = FLAT
    nprobe: int = 0
    rerank: int = 0  # 0: exact index, answers are not re-checked
    bytes: int = 0
    # Share of held-back gallery faces with a match (another face within the match distance)
    # whose nearest face the index finds at its exact distance: the faces identify names.
    recall_at_1: float = 1.0
    recall_all: float = 1.0  # the same over all held-back faces, matched or not
    query_ms: float = 0.0
    trained_on: int = 0  # faces the index was trained on (0: exact, nothing to train)

    @property
    def exact(self) -> bool:
        return self.rerank == 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for the user: which index, its size, and how it measured."""
        if self.exact:
            return f"exact search ({self.key}), {_size(self.bytes)}"
        return (
            f"{self.key} (nprobe {self.nprobe}, {self.rerank} candidates re-checked exactly), "
            f"{_size(self.bytes)}, recall@1 {self.recall_at_1:.3f} against exact search "
            f"(faces with a match; {self.recall_all:.3f} over all), "
            f"{self.query_ms:.2f} ms a face"
        )

    @classmethod
    def from_json(cls, data: Any) -> IndexPlan:
        """Read a recorded plan, checking every field's type (gallery.json is untrusted)."""
        if not isinstance(data, dict):
            raise ClusterpipeError("the index record is not an object")
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if isinstance(value, bool) or not isinstance(value, _KINDS[str(f.type)]):
                raise ClusterpipeError(f"index record field {f.name!r} is {value!r}")
            kw[f.name] = value
        plan = cls(**kw)
        # Bounded: a search asks faiss for rerank candidates a query, nprobe lists each.
        if not (0 <= plan.nprobe <= 65536 and 0 <= plan.rerank <= MAX_RERANK) or not (
            0 <= plan.bytes < 2**62 and plan.trained_on >= 0 and plan.key.isprintable()
        ):
            raise ClusterpipeError(
                f"index record out of range (nprobe {plan.nprobe}, rerank {plan.rerank}, bytes "
                f"{plan.bytes}, trained_on {plan.trained_on} or key {plan.key!r})"
            )
        values = (plan.recall_at_1, plan.recall_all, plan.query_ms)
        if not all(isinstance(v, int) or math.isfinite(v) for v in values) or max(values) > 1e9:
            raise ClusterpipeError("index record has non-finite values")
        return plan


def _faiss():
    import faiss

    return faiss


def _nlist(n: int) -> int:
    """Inverted lists for n faces: a power of two near sqrt(n), with 39+ faces to train each."""
    nlist = 2 ** round(math.log2(max(1.0, math.sqrt(n))))
    while nlist > 1 and 39 * nlist > n:
        nlist //= 2
    return min(nlist, 65536)


def candidates(n: int, dim: int) -> list[tuple[str, int]]:
    """(faiss key, estimated bytes) from the most to the least accurate."""
    out = [(FLAT, n * dim * 4)]
    if n < MIN_COMPRESSED:
        return out
    nlist = _nlist(n)
    centroids = nlist * dim * 4
    # 4-bit product codes scanned with SIMD ("fast scan"), re-ranked exactly: at 1M faces
    # PQ64x4fs found every exact nearest face (as IVF,SQ8 did, at 3x the bytes and 5x the
    # time) and trains in seconds, where 8-bit PQ32 took minutes (bench/gallery.py).
    for m in (dim // 2, dim // 4, dim // 8):
        if m >= 2 and dim % m == 0 and m % 2 == 0:
            size = n * (m // 2 + ID_BYTES) + centroids + 16 * dim * 4
            out.append((f"IVF{nlist},PQ{m}x4fs", size))
    return out


def flat_query_ms(n: int, dim: int) -> float:
    """Time of one exact search over n faces on this machine, from the measured rate."""
    return n * dim * FLAT_NS_PER_VALUE / 1e6


def choose(n: int, dim: int, settings: IndexSettings) -> list[str]:
    """Keys to try, best first: exact while it fits both budgets, else those that fit memory."""
    options = candidates(n, dim)
    budget = settings.memory_bytes
    # Exact search as the gallery is set, or with too few faces to train a compressed index on
    # (< 0.5 MB): whatever the budget, said when over it.
    if settings.index == "flat" or len(options) == 1:
        if options[0][1] > budget:
            log.warning(
                "gallery index: exact search over %d faces takes %s, over the memory budget %s "
                "(%s)",
                n,
                _size(options[0][1]),
                settings.max_index_memory,
                "too few faces to train a compressed index on"
                if len(options) == 1
                else "the gallery's index is set to flat; auto would compress it",
            )
        return [FLAT]
    if options[0][1] <= budget and flat_query_ms(n, dim) <= settings.max_query_ms:
        return [FLAT]
    fitting = [key for key, size in options[1:] if size <= budget]
    if not fitting:
        raise _too_small(n, settings, min(size for _, size in options))
    return fitting


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def _too_small(n: int, settings: IndexSettings, need: int) -> ClusterpipeError:
    return ClusterpipeError(
        f"--max-index-memory {settings.max_index_memory} is too small for {n} faces: the "
        f"smallest index takes about {_size(need)}; give more memory"
    )


def _train(key: str, vectors: np.ndarray, seed: int) -> Any:
    faiss = _faiss()
    index = faiss.index_factory(vectors.shape[1], key)
    nlist = faiss.extract_index_ivf(index).nlist
    # k-means needs ~39 points per centroid, PQ's 256 codes per subspace a few thousand.
    size = min(len(vectors), max(64 * nlist, 256 * 64))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(vectors), size, replace=False))
    index.train(np.ascontiguousarray(vectors[sample], np.float32))
    return index


def within(x: np.ndarray, bound: float = np.inf) -> bool:
    """Whether every value of `x` is finite and at most `bound` in size (in blocks of rows: a
    memory-mapped gallery is not read whole into memory)."""
    return all(
        np.isfinite(part).all() and (np.abs(part) <= bound).all()
        for part in (x[a : a + (1 << 18)] for a in range(0, len(x), 1 << 18))
    )


def build(
    vectors: np.ndarray,
    settings: IndexSettings,
    radius: float,
    previous: tuple[Any, IndexPlan] | None = None,
) -> tuple[Any, IndexPlan]:
    """An index over vectors and its plan: exact, or compressed and tuned to the budget for
    faces with a match within `radius`.

    A compressed `previous` index of the same key trained on a similar number of faces is
    emptied and refilled instead of trained again, so a promote that changes a few people
    costs an encoding pass, not a training."""
    faiss = _faiss()
    n, dim = vectors.shape
    if n and not within(vectors):
        raise ClusterpipeError(
            "a face's encoding is not a finite float32 (damaged faces.jsonl?); run again with "
            "--fresh"
        )
    for key in choose(n, dim, settings):
        if key == FLAT:
            index = faiss.IndexFlatL2(dim)
            if n:
                index.add(np.ascontiguousarray(vectors, np.float32))
            plan = IndexPlan(FLAT, bytes=n * dim * 4, query_ms=round(flat_query_ms(n, dim), 3))
            return index, plan
        trained_on = n
        if previous and previous[1].key == key and n / 2 <= previous[1].trained_on <= 2 * n:
            index = faiss.clone_index(previous[0])
            index.reset()
            trained_on = previous[1].trained_on
        else:
            t = time.perf_counter()
            index = _train(key, vectors, seed=n)
            log.info("gallery index %s trained in %.1f s", key, time.perf_counter() - t)
        for a in range(0, n, 1 << 18):  # in slices: no float32 copy of the whole gallery
            index.add(np.ascontiguousarray(vectors[a : a + (1 << 18)], np.float32))
        size = len(faiss.serialize_index(index))
        if size > settings.memory_bytes:
            log.info("gallery index %s takes %d bytes, over budget; trying a smaller", key, size)
            continue
        plan = IndexPlan(key, 1, RERANK, size, trained_on=trained_on)
        return index, tune(index, vectors, settings, radius, plan)
    raise _too_small(n, settings, size)


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(distances, rows) of each query's k nearest faces by exact search, in slices."""
    faiss = _faiss()
    best_d = np.full((len(queries), k), np.inf, np.float32)
    best_i = np.full((len(queries), k), -1, np.int64)
    step = 1 << 18
    for a in range(0, len(vectors), step):
        flat = faiss.IndexFlatL2(vectors.shape[1])
        flat.add(np.ascontiguousarray(vectors[a : a + step], np.float32))
        d2, idx = flat.search(queries, k)
        d = np.where(idx >= 0, np.sqrt(np.maximum(d2, 0)), np.inf)
        both_d, both_i = (
            np.hstack([best_d, d]),
            np.hstack([best_i, np.where(idx >= 0, idx + a, -1)]),
        )
        order = np.argsort(both_d, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(both_d, order, axis=1)
        best_i = np.take_along_axis(both_i, order, axis=1)
    return best_d, best_i


def _truth(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Exact distance from each row's face to its nearest other face in the gallery."""
    dist, idx = exact_search(vectors, np.ascontiguousarray(vectors[rows], np.float32), 8)
    # Leave the face itself out, and its copies (one face promoted from two runs): a new face
    # is never an exact copy of a gallery face.
    dist[(idx == rows[:, None]) | (dist <= SAME)] = np.inf
    return dist.min(axis=1)


def check_index(index, plan: IndexPlan, n: int, dim: int, legacy: bool) -> str | None:
    """Why a loaded index is not the one the plan records (None: it is)."""
    import re

    faiss = _faiss()
    name = type(index).__name__
    if index.d != dim or index.ntotal != n:
        return f"{index.ntotal} vectors of {index.d} values for {n} entries of {dim}"
    if getattr(index, "metric_type", faiss.METRIC_L2) != faiss.METRIC_L2:
        return f"a {name} that does not measure L2 distances"
    if plan.exact:
        allowed = ("IndexFlatL2", "IndexHNSWFlat") if legacy else ("IndexFlatL2",)
        return None if name in allowed else f"a {name} where the sidecar records exact search"
    m = re.fullmatch(r"IVF(\d+),PQ(\d+)x4fs", plan.key)
    if legacy or name != "IndexIVFPQFastScan" or not m:
        return f"a {name} where the sidecar records {plan.key}"
    if index.nlist != int(m[1]) or index.pq.M != int(m[2]):
        return f"IVF{index.nlist},PQ{index.pq.M}x4fs where the sidecar records {plan.key}"
    return None


def _recall(index, plan: IndexPlan, vectors: np.ndarray, rows: np.ndarray, truth) -> float:
    dist, _ = search(index, plan, vectors, vectors[rows], k=1, exclude=rows)
    return float(np.mean(dist[:, 0] <= truth + 1e-5))


def _time_ms(index, plan: IndexPlan, vectors: np.ndarray, rows: np.ndarray) -> float:
    t = time.perf_counter()
    for r in rows:
        search(index, plan, vectors, vectors[r : r + 1], k=1)
    return (time.perf_counter() - t) * 1000 / max(1, len(rows))


def _matched(rows: np.ndarray, truth: np.ndarray, radius: float):
    """The rows (and their truth) that have a match within radius, if enough do; else all."""
    keep = truth <= radius
    return (rows[keep], truth[keep]) if keep.sum() >= MIN_MATCHED else (rows, truth)


def tune(
    index, vectors: np.ndarray, settings: IndexSettings, radius: float, plan: IndexPlan
) -> IndexPlan:
    """Raise nprobe until recall@1 of matched held-back faces reaches TUNE_RECALL or a query
    takes longer than the budget, then measure recall and time on other held-back faces."""
    n = len(vectors)
    rows = np.random.default_rng(n + 1).permutation(n)[: TUNE_QUERIES + CHECK_QUERIES]
    tune_rows, check_rows = np.sort(rows[:TUNE_QUERIES]), np.sort(rows[TUNE_QUERIES:])
    if not len(check_rows):
        check_rows = tune_rows
    tune_rows, truth = _matched(tune_rows, _truth(vectors, tune_rows), radius)
    nlist = _faiss().extract_index_ivf(index).nlist
    best, nprobe, slow = plan, 1, False
    while nprobe <= nlist:
        trial = replace(plan, nprobe=nprobe)
        if _time_ms(index, trial, vectors, tune_rows[:TIME_QUERIES]) > settings.max_query_ms:
            slow = nprobe > 1
            if slow:
                break
        best = trial
        if _recall(index, trial, vectors, tune_rows, truth) >= TUNE_RECALL:
            break
        nprobe *= 2
    check_truth = _truth(vectors, check_rows)
    recall_all = _recall(index, best, vectors, check_rows, check_truth)
    recall = _recall(index, best, vectors, *_matched(check_rows, check_truth, radius))
    ms = _time_ms(index, best, vectors, check_rows[:TIME_QUERIES])
    best = replace(
        best, recall_at_1=round(recall, 4), recall_all=round(recall_all, 4), query_ms=round(ms, 3)
    )
    if recall < TARGET_RECALL and (slow or nprobe > nlist):  # else a sampling wobble
        log.warning(
            "gallery index %s reaches recall@1 %.3f at nprobe %d; %s",
            best.key,
            recall,
            best.nprobe,
            "give more --max-query-ms for more" if slow else "give more --max-index-memory",
        )
    return best


def prepare(index, plan: IndexPlan) -> None:
    """Set the recorded search parameters on a loaded index."""
    if not plan.exact:
        _faiss().extract_index_ivf(index).nprobe = max(1, plan.nprobe)


def search(
    index,
    plan: IndexPlan,
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int = 1,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(exact distances, rows) of each query's k nearest gallery faces, nearest first.

    A compressed index proposes plan.rerank candidates; their exact distances, from the
    vectors kept on disk, decide. `exclude` leaves out one row per query (itself, in tuning)."""
    queries = np.ascontiguousarray(queries, np.float32)
    prepare(index, plan)
    want = k + (exclude is not None)
    if plan.exact:
        d2, idx = index.search(queries, want)
        dist = np.sqrt(np.maximum(d2, 0))
    else:
        _, idx = index.search(queries, max(want, plan.rerank))
        valid = (idx >= 0) & (idx < len(vectors))
        rows = np.where(valid, idx, 0)
        cand = np.asarray(vectors[rows.ravel()], np.float32).reshape(*rows.shape, -1)
        dist = np.sqrt(((cand - queries[:, None, :]) ** 2).sum(axis=2))
        dist[~valid] = np.inf
        lost = np.flatnonzero(~valid.any(axis=1))
        if len(lost) and len(vectors) and exclude is None:
            # No candidate in the lists probed (a face far from every list): search it exactly.
            dist[lost], idx[lost] = exact_search(vectors, queries[lost], dist.shape[1])
    if exclude is not None:
        dist[(idx == np.asarray(exclude)[:, None]) | (dist <= SAME)] = np.inf
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(dist, order, axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    idx[~np.isfinite(dist)] = -1
    return dist, idx
