"""Group encodings into people: DBSCAN, then split clusters that hold one frame twice or two
tight groups of tracks."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

# scikit-learn and scipy are imported where they are used: they take about a second to import,
# and `clusterpipe run` needs them only after encoding (api.run warms them up meanwhile).
CLUSTER_MODULES = ("sklearn.cluster", "scipy.cluster.hierarchy", "scipy.spatial.distance")

log = logging.getLogger("clusterpipe")

# Two faces of one frame closer than this are allowed in one cluster (a mirror, a screen, a
# poster): dlib puts the same person at 0.2-0.45 and different people mostly above 0.55.
# cluster_faces passes eps instead: faces within eps are neighbours by DBSCAN's own definition,
# and on hard footage (small, blurred) the same person twice in a frame is often 0.35-0.5 apart.
SAME_FRAME_TOLERANCE = 0.35
# Measured (bench/cluster.py): both take under a second at 10k; at 100k scikit-learn needs
# 29 s and 1.2 GB against 3.6 s and 0.5 GB, and it cannot hold 1M faces' neighbourhoods.
FAISS_DBSCAN_MIN = 20_000
# A track split needs each part to span this many tracks (one track can be one odd shot), and the
# parts' mean distance to exceed each part's own mean spread by this margin: two people make two
# tight groups of tracks, while one person's blurred, dark or turned shots spread towards the
# gap and never leave one (measured on the dev sets: the two look-alikes that DBSCAN chains are
# 0.59 apart with spreads of 0.19 and 0.43; wrongly split people had margins of 0.06-0.09).
TRACK_SPLIT_MIN_TRACKS = 2
TRACK_SPLIT_MARGIN = 0.1


def dbscan(encodings: np.ndarray, eps: float = 0.5, min_samples: int = 2) -> np.ndarray:
    """DBSCAN labels (-1 = noise) for (n, 128) encodings, euclidean.

    scikit-learn's below FAISS_DBSCAN_MIN faces, the FAISS one (same labels) above.
    """
    if len(encodings) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(encodings) >= FAISS_DBSCAN_MIN:
        from .dbscan_faiss import faiss_dbscan

        return faiss_dbscan(encodings, eps, min_samples)
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=eps, min_samples=min_samples, metric="euclidean", n_jobs=1).fit_predict(
        np.asarray(encodings, dtype=np.float64)
    )


def cannot_links(
    frames: Sequence[object],
    encodings: np.ndarray,
    members: np.ndarray,
    tolerance: float = SAME_FRAME_TOLERANCE,
) -> list[tuple[int, int]]:
    """Pairs (positions in `members`) of faces from one frame that look like different people."""
    by_frame: dict[object, list[int]] = defaultdict(list)
    for pos, i in enumerate(members):
        by_frame[frames[i]].append(pos)
    pairs = []
    for group in by_frame.values():
        for a in range(len(group)):
            for b in range(a + 1, len(group)):
                ia, ib = members[group[a]], members[group[b]]
                if np.linalg.norm(encodings[ia] - encodings[ib]) > tolerance:
                    pairs.append((group[a], group[b]))
    return pairs


def split_by_cannot_links(encodings: np.ndarray, links: list[tuple[int, int]]) -> np.ndarray:
    """Split points into the fewest average-linkage subtrees that hold no cannot-link pair."""
    n = len(encodings)
    labels = np.zeros(n, dtype=np.int64)
    if not links or n < 2:
        return labels
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    tree = linkage(pdist(encodings), method="average")
    children = {n + i: (int(a), int(b)) for i, (a, b, _, _) in enumerate(tree)}
    partner: dict[int, set[int]] = defaultdict(set)
    for a, b in links:
        partner[a].add(b)
        partner[b].add(a)

    def leaves(node: int) -> list[int]:
        out, stack = [], [node]
        while stack:
            x = stack.pop()
            if x < n:
                out.append(x)
            else:
                stack.extend(children[x])
        return out

    next_label = 0
    stack = [2 * n - 2]
    while stack:
        node = stack.pop()
        pts = leaves(node)
        inside = set(pts)
        if node >= n and any(partner[p] & inside for p in pts):
            stack.extend(children[node])
        else:
            labels[pts] = next_label
            next_label += 1
    return labels


def split_by_tracks(
    encodings: np.ndarray,
    tracks: np.ndarray,
    distance: float,
    margin: float = TRACK_SPLIT_MARGIN,
    min_tracks: int = TRACK_SPLIT_MIN_TRACKS,
) -> np.ndarray:
    """Sub-labels of one cluster's faces: split where two groups of tracks (average linkage over
    track mean encodings) are farther apart than `distance` and `margin` beyond their spreads."""
    keys, inverse = np.unique(np.asarray(tracks), return_inverse=True)
    labels = np.zeros(len(encodings), dtype=np.int64)
    if len(keys) < 2 * min_tracks:
        return labels
    means = np.array([encodings[inverse == k].mean(axis=0) for k in range(len(keys))])
    from scipy.cluster.hierarchy import linkage, to_tree
    from scipy.spatial.distance import pdist, squareform

    dist = pdist(means)
    square = squareform(dist)

    def spread(node) -> float:
        """Mean distance between the track means under `node`."""
        idx = node.pre_order()
        if len(idx) < 2:
            return 0.0
        return float(square[np.ix_(idx, idx)][np.triu_indices(len(idx), 1)].mean())

    parts, stack = [], [to_tree(linkage(dist, method="average"))]
    while stack:
        node = stack.pop()
        if (
            not node.is_leaf()
            and node.dist > distance
            and min(node.left.get_count(), node.right.get_count()) >= min_tracks
            and node.dist - max(spread(node.left), spread(node.right)) >= margin
        ):
            stack += [node.left, node.right]
        else:
            parts.append(node.pre_order())
    for label, part in enumerate(parts):
        labels[np.isin(inverse, part)] = label
    return labels


def positions(values: Sequence[object]) -> dict[object, list[int]]:
    """The positions of each value, in order (faces by track, faces by frame)."""
    where: dict[object, list[int]] = defaultdict(list)
    for i, v in enumerate(values):
        where[v].append(i)
    return where


def merge_by_tracks(
    labels: np.ndarray,
    tracks: np.ndarray,
    frames: Sequence[object],
    encodings: np.ndarray,
    tolerance: float = SAME_FRAME_TOLERANCE,
) -> np.ndarray:
    """One track is one person: join the clusters a track spans, and give its noise faces the
    track's cluster, unless that would put two clearly different faces of one frame together."""
    labels = labels.copy()
    members: dict[int, list[int]] = defaultdict(list)
    for i, lab in enumerate(labels.tolist()):
        if lab >= 0:
            members[lab].append(i)
    root = {lab: lab for lab in members}

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    def conflict(a: list[int], b: list[int]) -> bool:
        by_frame = defaultdict(list)
        for i in a:
            by_frame[frames[i]].append(i)
        return any(
            np.linalg.norm(encodings[i] - encodings[j]) > tolerance
            for i in b
            for j in by_frame.get(frames[i], ())
        )

    by_track = positions(np.asarray(tracks).tolist())
    for faces in by_track.values():
        labs = sorted({find(int(labels[i])) for i in faces if labels[i] >= 0})
        for other in labs[1:]:
            a, b = find(labs[0]), find(other)
            if a != b and not conflict(members[a], members[b]):
                root[b] = a
                members[a] += members.pop(b)
    if root:
        mapping = np.arange(max(root) + 1)
        for lab in root:
            mapping[lab] = find(lab)
        clustered = labels >= 0
        labels[clustered] = mapping[labels[clustered]]
    for faces in by_track.values():
        labs = [int(labels[i]) for i in faces if labels[i] >= 0]
        if not labs:
            continue
        best = max(set(labs), key=labs.count)
        for i in faces:
            if labels[i] < 0 and not conflict(members[best], [i]):
                labels[i] = best
                members[best].append(i)
    return labels


def reunite_tracks(
    labels: np.ndarray,
    tracks: np.ndarray,
    frames: Sequence[object],
    encodings: np.ndarray,
    tolerance: float = SAME_FRAME_TOLERANCE,
) -> np.ndarray:
    """Give every face of a track the cluster that holds most of it (noise faces included),
    unless that would put two clearly different faces of one frame together.

    The splits work on faces, so they can cut a track; but a track is one person (on dev_hard
    none of 212 tracks holds two people, while the splits cut 11 of them)."""
    labels = labels.copy()
    by_frame = positions(frames)
    for faces in positions(np.asarray(tracks).tolist()).values():
        labs = [int(labels[i]) for i in faces if labels[i] >= 0]
        if not labs:
            continue
        best = max(set(labs), key=labs.count)
        moving = [i for i in faces if labels[i] != best]
        if moving and not any(
            labels[j] == best and np.linalg.norm(encodings[i] - encodings[j]) > tolerance
            for i in moving
            for j in by_frame[frames[i]]
            if j != i
        ):
            labels[moving] = best
    return labels


def nearest_clusters(encodings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every noise face: the cluster of its nearest clustered face, and that distance."""
    import faiss

    noise = np.flatnonzero(labels < 0)
    clustered = np.flatnonzero(labels >= 0)
    if len(noise) == 0 or len(clustered) == 0:
        return np.full(len(noise), -1), np.full(len(noise), np.inf)
    index = faiss.IndexFlatL2(encodings.shape[1])
    index.add(np.ascontiguousarray(encodings[clustered], dtype=np.float32))
    d2, idx = index.search(np.ascontiguousarray(encodings[noise], dtype=np.float32), 1)
    return labels[clustered[idx[:, 0]]], np.sqrt(np.maximum(d2[:, 0], 0))


def split_clusters(labels: np.ndarray, split) -> np.ndarray:
    """Apply `split(cluster, members)` (sub-labels 0..k of those faces) to every cluster; each
    piece but the first gets a new label."""
    labels = labels.copy()
    next_label = labels.max() + 1
    for c in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == c)
        sub = split(c, members)
        for s in range(1, sub.max() + 1):
            labels[members[sub == s]] = next_label
            next_label += 1
    return labels


def cluster_faces(
    encodings: np.ndarray,
    frames: Sequence[object],
    eps: float = 0.5,
    min_samples: int = 2,
    split_same_frame: bool = True,
    tracks: np.ndarray | None = None,
    split_distance: float = 0.0,
) -> np.ndarray:
    """Cluster labels, 0 = largest cluster, -1 = noise.

    `frames[i]` identifies the frame of face i. With `tracks` (a track id per face), clusters a
    track spans are joined and its noise faces attached, and with `split_distance` > 0 a cluster
    made of two tight groups of tracks farther apart than that is split (split_by_tracks). With
    `split_same_frame`, a cluster that holds two clearly different faces of one frame is split
    along its average-linkage tree until no such pair shares a cluster (no face is dropped).
    After the splits, a track they cut goes whole to the cluster that holds most of it.
    """
    encodings = np.asarray(encodings, dtype=np.float64)
    labels = dbscan(encodings, eps, min_samples)
    if tracks is not None and len(labels):
        labels = merge_by_tracks(labels, tracks, frames, encodings, tolerance=eps)
    if split_same_frame and len(labels):

        def by_frames(c: int, members: np.ndarray) -> np.ndarray:
            links = cannot_links(frames, encodings, members, tolerance=eps)
            sub = split_by_cannot_links(encodings[members], links)
            if links:
                log.debug(
                    "cluster %d: %d same-frame conflicts, split into %d",
                    c,
                    len(links),
                    sub.max() + 1,
                )
            return sub

        labels = split_clusters(labels, by_frames)
    if tracks is not None and split_distance > 0 and len(labels):
        tracks = np.asarray(tracks)

        def by_tracks(c: int, members: np.ndarray) -> np.ndarray:
            sub = split_by_tracks(encodings[members], tracks[members], split_distance)
            if sub.max():
                log.debug("cluster %d: split into %d groups of tracks", c, sub.max() + 1)
            return sub

        labels = split_clusters(labels, by_tracks)
    if tracks is not None and (split_same_frame or split_distance > 0) and len(labels):
        labels = reunite_tracks(labels, tracks, frames, encodings, tolerance=eps)
    if split_same_frame or split_distance > 0:
        # A piece smaller than min_samples is not a cluster by DBSCAN's own rule.
        ids, counts = np.unique(labels[labels >= 0], return_counts=True)
        for c, k in zip(ids, counts):
            if k < min_samples:
                labels[labels == c] = -1
    return relabel_by_size(labels)


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1 by size, largest first (ties: first appearance); keep -1."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full(len(labels), -1, dtype=np.int64)
    ids, first, counts = np.unique(labels, return_index=True, return_counts=True)
    keep = ids >= 0
    ids, first, counts = ids[keep], first[keep], counts[keep]
    order = np.lexsort((first, -counts))
    new = np.empty(len(ids), dtype=np.int64)
    new[order] = np.arange(len(ids))
    mask = labels >= 0
    out[mask] = new[np.searchsorted(ids, labels[mask])]
    return out
