"""The FAISS DBSCAN gives scikit-learn's labels, on data shaped like face encodings."""

import numpy as np
import pytest
from sklearn.cluster import DBSCAN

from clusterpipe.cluster.dbscan import dbscan
from clusterpipe.cluster.dbscan_faiss import faiss_dbscan
from tests.helpers import face_like


@pytest.mark.parametrize(
    "n, min_samples",
    [(10_000, 2), (10_000, 5), pytest.param(100_000, 2, marks=pytest.mark.slow)],
)
def test_same_labels_as_scikit_learn(n, min_samples):
    x, _ = face_like(n, seed=n + min_samples)
    ours = faiss_dbscan(x, 0.5, min_samples)
    theirs = DBSCAN(eps=0.5, min_samples=min_samples).fit_predict(x.astype(np.float64))
    assert ours.max() > 100  # a real clustering, not a trivial one
    np.testing.assert_array_equal(ours, theirs)


def test_small_and_degenerate_inputs():
    assert faiss_dbscan(np.zeros((0, 128)), 0.5, 2).tolist() == []
    lone = np.eye(128)[:3] * 5
    assert faiss_dbscan(lone, 0.5, 2).tolist() == [-1, -1, -1]
    same = np.zeros((4, 128))
    assert faiss_dbscan(same, 0.5, 2).tolist() == [0, 0, 0, 0]


def test_cluster_dbscan_switches_to_faiss_above_the_threshold(monkeypatch):
    import clusterpipe.cluster.dbscan as cluster

    x, _ = face_like(3000, seed=3)
    expected = DBSCAN(eps=0.5, min_samples=2).fit_predict(x.astype(np.float64))
    monkeypatch.setattr(cluster, "FAISS_DBSCAN_MIN", 1000)
    np.testing.assert_array_equal(dbscan(x, 0.5, 2), expected)
