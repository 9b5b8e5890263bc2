import numpy as np

from clusterpipe.cluster import (
    cannot_links,
    cluster_faces,
    dbscan,
    relabel_by_size,
    split_by_cannot_links,
)


def _blobs(rng, sizes, spread=0.05, dist=1.0):
    centers = rng.normal(size=(len(sizes), 128))
    centers *= dist / np.linalg.norm(centers, axis=1, keepdims=True)
    x = np.vstack(
        [c + rng.normal(scale=spread / np.sqrt(128), size=(n, 128)) for c, n in zip(centers, sizes)]
    )
    y = np.repeat(np.arange(len(sizes)), sizes)
    return x, y


def test_dbscan_finds_blobs_and_noise():
    rng = np.random.default_rng(0)
    x, y = _blobs(rng, [20, 10, 5])
    lonely = rng.normal(size=(1, 128))
    labels = dbscan(np.vstack([x, 3 * lonely / np.linalg.norm(lonely)]), 0.5, 2)
    assert len(set(labels[:35])) == 3 and labels[-1] == -1


def test_relabel_by_size_orders_largest_first():
    out = relabel_by_size(np.array([5, 5, 2, -1, 2, 2, 9]))
    assert out.tolist() == [1, 1, 0, -1, 0, 0, 2]


def test_same_frame_conflict_splits_a_chained_cluster():
    # Two people A and B bridged by a chain of in-between faces; frame 0 holds A and B.
    a, b = np.zeros(128), np.zeros(128)
    b[0] = 1.6
    chain = [np.eye(128)[0] * t for t in np.linspace(0, 1.6, 9)]
    enc = np.vstack([a, a + 0.01, *chain, b, b + 0.01])
    frames = ["f0", "x1", *[f"c{i}" for i in range(9)], "f0", "y1"]
    assert len(set(dbscan(enc, 0.5, 2))) == 1  # plain DBSCAN merges everything
    labels = cluster_faces(enc, frames, 0.5, 2, split_same_frame=True)
    assert labels[0] != labels[-2]  # A and B of frame f0 are now apart
    assert (labels >= 0).sum() >= len(enc) - 1  # split, not dropped
    assert labels[0] == labels[1] and labels[-2] == labels[-1]


def test_same_person_twice_in_a_frame_is_allowed():
    rng = np.random.default_rng(1)
    x, _ = _blobs(rng, [6], spread=0.1)
    frames = ["f0", "f0", "f1", "f2", "f3", "f4"]  # a mirror: the same person twice in f0
    assert cannot_links(frames, x, np.arange(6)) == []
    assert len(set(cluster_faces(x, frames).tolist())) == 1


def test_split_by_cannot_links_separates_each_pair():
    rng = np.random.default_rng(2)
    x, y = _blobs(rng, [5, 5, 5], spread=0.1)
    links = [(0, 5), (5, 10), (0, 10)]
    labels = split_by_cannot_links(x, links)
    assert len({labels[0], labels[5], labels[10]}) == 3
    for k in range(3):  # members of one blob stay together
        assert len(set(labels[y == k])) == 1
