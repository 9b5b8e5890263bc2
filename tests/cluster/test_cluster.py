import numpy as np

from clusterpipe.cluster.dbscan import (
    cannot_links,
    cluster_faces,
    dbscan,
    relabel_by_size,
    reunite_tracks,
    split_by_cannot_links,
    split_by_tracks,
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


def _chained_a_b() -> tuple[np.ndarray, list[str]]:
    """Two people A and B, 1.6 apart, bridged by a chain of nine in-between faces (0 to 1.6
    from A); frame f0 holds A and B. Encodings and frames: A, A, chain..., B, B."""
    a, b = np.zeros(128), np.zeros(128)
    b[0] = 1.6
    chain = [np.eye(128)[0] * t for t in np.linspace(0, 1.6, 9)]
    enc = np.vstack([a, a + 0.01, *chain, b, b + 0.01])
    return enc, ["f0", "x1", *[f"c{i}" for i in range(9)], "f0", "y1"]


def test_same_frame_conflict_splits_a_chained_cluster():
    # Two people A and B bridged by a chain of in-between faces; frame 0 holds A and B.
    enc, frames = _chained_a_b()
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


def _tracks(means, faces_per_track=3, noise=0.01, seed=3):
    """Faces (n, 128) and track ids of tracks whose mean encodings are `means`."""
    rng = np.random.default_rng(seed)
    enc = np.vstack([m + rng.normal(scale=noise, size=(faces_per_track, 128)) for m in means])
    return enc, np.repeat(np.arange(len(means)), faces_per_track)


def _e(k, t=1.0):
    return np.eye(128)[k] * t


def _look_alikes():
    # A: three tight tracks and one shot of A that looks more like B (0.4 from B's centre);
    # B: three tight tracks 0.6 from A's centre. DBSCAN at 0.5 chains them through A's shot.
    a, b = np.zeros(128), _e(0, 0.6)
    means = [a + _e(1, 0.1), a + _e(2, 0.1), a + _e(3, 0.1), _e(0, 0.2) + _e(4, 0.1)]
    means += [b + _e(5, 0.1), b + _e(6, 0.1), b + _e(7, 0.1)]
    return _tracks(means)


def test_two_tight_groups_of_tracks_are_split():
    enc, tracks = _look_alikes()
    assert len(set(dbscan(enc, 0.5, 2))) == 1  # chained
    sub = split_by_tracks(enc, tracks, 0.55)
    person = np.repeat([0, 0, 0, 0, 1, 1, 1], 3)
    assert len(set(sub)) == 2 and all(len(set(sub[person == p])) == 1 for p in (0, 1))
    frames = [f"f{i}" for i in range(len(enc))]
    labels = cluster_faces(enc, frames, tracks=tracks, split_distance=0.55)
    assert len(set(labels)) == 2 and (labels >= 0).all()
    assert len(set(cluster_faces(enc, frames, tracks=tracks, split_distance=0))) == 1


def test_a_loose_group_of_tracks_is_not_split_off():
    # One person's two degraded shots are 0.66 apart: the gap to the tight group (0.73) is not
    # clearly wider than that spread, so it is one person seen badly, not a second person.
    b = _e(0, 0.65)
    means = [_e(1, 0.33), _e(1, -0.33), b + _e(2, 0.05), b - _e(2, 0.05)]
    enc, tracks = _tracks(means)
    assert len(set(split_by_tracks(enc, tracks, 0.55))) == 1
    assert len(set(split_by_tracks(enc, tracks, 0.55, margin=0.0))) == 2


def test_a_single_odd_track_is_not_split_off():
    means = [_e(1, 0.1), _e(2, 0.1), _e(3, 0.1), _e(0, 0.7)]
    enc, tracks = _tracks(means)
    assert len(set(split_by_tracks(enc, tracks, 0.55))) == 1
    assert len(set(split_by_tracks(enc, tracks, 0.55, min_tracks=1))) == 2


def test_a_track_cut_by_a_split_is_reunited_where_most_of_it_is():
    enc = np.zeros((6, 4))
    enc[4:, 0] = 1.0  # faces 4 and 5: someone else
    labels = np.array([0, 0, 1, -1, 1, 1])
    tracks = np.array([7, 7, 7, 7, 8, 9])  # faces 0-3 are one track
    frames = ["a", "b", "c", "d", "e", "f"]
    out = reunite_tracks(labels, tracks, frames, enc, tolerance=0.5)
    assert out.tolist() == [0, 0, 0, 0, 1, 1]
    # Not where that puts two clearly different faces of one frame together.
    frames = ["a", "b", "c", "d", "e", "c"]
    conflict = np.array([0, 0, 1, -1, 1, 0])
    assert reunite_tracks(conflict, tracks, frames, enc, 0.5).tolist() == conflict.tolist()


def test_cluster_faces_keeps_tracks_whole_through_the_same_frame_split():
    # The chained A..B case: the same-frame split cuts the chain near its middle, but the faces
    # from A to past the middle are one track, so they stay with A.
    enc, frames = _chained_a_b()
    tracks = np.arange(len(enc))
    tracks[2:9] = 100  # chain faces 0..6 (0 to 1.2 from A): one track
    plain = cluster_faces(enc, frames, 0.5, 2, split_same_frame=True)
    assert len(set(plain[2:9].tolist())) > 1  # the split alone cuts the track
    labels = cluster_faces(enc, frames, 0.5, 2, split_same_frame=True, tracks=tracks)
    assert len(set(labels[2:9].tolist())) == 1 and labels[2] == labels[0]
    assert labels[0] != labels[-2]
