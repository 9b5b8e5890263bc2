"""DBSCAN for large face sets on FAISS: scikit-learn's labels without its memory.

scikit-learn's DBSCAN stores every point's eps-neighbourhood; a 20k-face cluster alone is 400M
pairs. DBSCAN's result only needs three things:

- core points: at least min_samples points (self included) within eps;
- clusters: connected components of core points joined by eps-edges;
- border points: the earliest-discovered cluster with a core point within eps.

Points are bucketed by a FAISS k-means quantizer; each bucket is joined by matrix products with
the points that probe it (their NPROBE nearest centroids), counting eps-neighbours and keeping a
few eps-edges per point and bucket, which is enough to connect a cluster. Points that look
non-core are looked at again with WIDE_PROBE buckets, so a neighbour just across a bucket border
is not missed. Distances within float32 rounding of eps are recomputed in float64, as
scikit-learn computes them. Labels are numbered as scikit-learn discovers clusters (by the
lowest index of a core point), so the output equals `sklearn.cluster.DBSCAN(eps,
min_samples).fit_predict(X)`: tests assert it at 10k and 100k faces shaped like encodings.
"""

from __future__ import annotations

import numpy as np

LIST_SIZE = 256  # points per bucket on average
NPROBE = 3  # buckets each point is joined with
WIDE_PROBE = 32  # for points that look non-core
EDGES_PER_BUCKET = 6  # eps-edges kept per point and bucket: enough to connect a cluster
SPARSE = 4  # points with fewer than SPARSE * min_samples neighbours get the wide look
_BIG = np.iinfo(np.int64).max


def _faiss():
    import faiss

    return faiss


def _quantizer(x32: np.ndarray, seed: int = 0):
    """k-means centroids over a sample, in a flat index for nearest-centroid search."""
    faiss = _faiss()
    n, d = x32.shape
    k = max(1, min(4096, n // LIST_SIZE))
    rng = np.random.default_rng(seed)
    sample = x32[rng.choice(n, size=min(n, k * 40), replace=False)]
    km = faiss.Kmeans(
        d, k, niter=8, seed=seed, min_points_per_centroid=1, max_points_per_centroid=40
    )
    km.train(sample)
    index = faiss.IndexFlatL2(d)
    index.add(km.centroids)
    return index


def _probe(quantizer, x32: np.ndarray, points: np.ndarray, nprobe: int) -> np.ndarray:
    out = np.empty((len(points), nprobe), np.int64)
    for s in range(0, len(points), 65536):
        _, out[s : s + 65536] = quantizer.search(x32[points[s : s + 65536]], nprobe)
    return out


def _join(x32, x64, sq, points, probes, members, eps, keep_edges):
    """Count eps-neighbours of `points` among the probed buckets; keep a few edges per bucket."""
    margin_lo, margin_hi = eps * eps * (1 - 1e-4), eps * eps * (1 + 1e-4)
    counts = np.zeros(len(points), np.int64)
    edges_a, edges_b = [], []
    flat = probes.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(len(members) + 1))
    rows_of = order // probes.shape[1]
    for c in range(len(members)):
        rows = rows_of[bounds[c] : bounds[c + 1]]
        cols = members[c]
        if len(rows) == 0 or len(cols) == 0:
            continue
        q = points[rows]
        d = x32[q] @ x32[cols].T  # squared distances, built in place (no temporaries)
        d *= -2.0
        d += sq[q][:, None]
        d += sq[cols][None, :]
        hit = d <= margin_hi
        if (d[hit] > margin_lo).any():  # within float32 rounding of eps: decide in float64
            close = np.nonzero(hit & (d > margin_lo))
            diff = x64[q[close[0]]] - x64[cols[close[1]]]
            hit[close] = np.einsum("ij,ij->i", diff, diff) <= eps * eps
        per_row = hit.sum(axis=1)
        counts[rows] += per_row
        if keep_edges:
            r, k = np.nonzero(hit)  # row-major: each row's hits in column order
            if per_row.max() > keep_edges:  # keep each row's first keep_edges hits
                starts = np.cumsum(per_row) - per_row
                keep = np.arange(len(r)) - starts[r] < keep_edges
                r, k = r[keep], k[keep]
            edges_a.append(q[r])
            edges_b.append(cols[k])
    if edges_a:
        return counts, np.concatenate(edges_a), np.concatenate(edges_b)
    return counts, np.zeros(0, np.int64), np.zeros(0, np.int64)


def faiss_dbscan(x: np.ndarray, eps: float = 0.5, min_samples: int = 2) -> np.ndarray:
    """DBSCAN labels (-1 = noise) equal to scikit-learn's, for large n."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    x64 = np.asarray(x, dtype=np.float64)
    x32 = np.ascontiguousarray(x64, dtype=np.float32)
    n = len(x32)
    if n == 0:
        return np.zeros(0, np.int64)
    sq = np.einsum("ij,ij->i", x32, x32)
    quantizer = _quantizer(x32)
    nlist = quantizer.ntotal
    everyone = np.arange(n)
    probes = _probe(quantizer, x32, everyone, min(NPROBE, nlist))
    # Each point's bucket is its nearest centroid, the first it probes (one search, not two).
    owner = probes[:, 0]
    order = np.argsort(owner, kind="stable")
    cuts = np.searchsorted(owner[order], np.arange(nlist + 1))
    members = [order[cuts[c] : cuts[c + 1]] for c in range(nlist)]

    counts, a, b = _join(x32, x64, sq, everyone, probes, members, eps, EDGES_PER_BUCKET)
    core = counts >= min_samples
    # Sparse points are where counts can fall short (a neighbour in a bucket not probed) and
    # where clusters touch: look at them again, wider, keeping all their edges.
    maybe = np.flatnonzero(counts < SPARSE * max(min_samples, 1))
    wide = _probe(quantizer, x32, maybe, min(WIDE_PROBE, nlist))
    counts2, wa, wb = _join(
        x32, x64, sq, maybe, wide, members, eps, 4 * SPARSE * max(min_samples, 1)
    )
    core[maybe] = counts2 >= min_samples
    if not core.any():
        return np.full(n, -1, np.int64)

    edges = core[a] & core[b] & (a != b)
    wedges = core[wa] & core[wb] & (wa != wb)
    a = np.concatenate([a[edges], wa[wedges]])
    b = np.concatenate([b[edges], wb[wedges]])
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    comp = np.where(core, comp, -1)
    # scikit-learn discovers clusters in order of their lowest-index core point.
    core_ids = np.flatnonzero(core)
    first = np.full(comp.max() + 1, _BIG)
    np.minimum.at(first, comp[core_ids], core_ids)
    used = np.flatnonzero(first != _BIG)
    rank = np.full(len(first), -1)
    rank[used[np.argsort(first[used])]] = np.arange(len(used))
    labels = np.full(n, -1, np.int64)
    labels[core_ids] = rank[comp[core_ids]]

    # Border points: the earliest cluster with a core point within eps. A non-core point has
    # fewer than min_samples neighbours, so the wide pass kept all of them as edges.
    border = (~core[wa]) & core[wb]
    if border.any():
        best = np.full(n, _BIG)
        np.minimum.at(best, wa[border], labels[wb[border]])
        hit = best != _BIG
        labels[hit] = best[hit]
    return labels
