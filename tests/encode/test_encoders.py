"""A second person space: FaceNet vectors beside dlib's, in shards, OUT/vectors.npy, the
gallery and identify; and the adaptation of a space to the footage's tracks."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from clusterpipe.api import run, tune
from clusterpipe.cluster import adapt
from clusterpipe.cluster.dbscan import cluster_faces
from clusterpipe.config import ClusterSettings, EncodeSettings, RunSettings
from clusterpipe.gallery.identify import identify
from clusterpipe.gallery.promote import promote
from clusterpipe.gallery.store import Gallery, GalleryError
from clusterpipe.store.files import read_faces


def _settings(**kw):
    return RunSettings(
        encode=EncodeSettings(encoder="facenet"),
        workers=2,
        segment_seconds=5.0,
        progress=False,
        **kw,
    )


@pytest.fixture(scope="module")
def facenet_run(faces_video, tmp_path_factory):
    out = tmp_path_factory.mktemp("fn") / "out"
    res = run([str(faces_video)], out, _settings())
    return out, res


@pytest.mark.slow
def test_facenet_vectors_beside_every_record(facenet_run):
    out, res = facenet_run
    assert res.faces == 48 and res.clusters == 3 and res.noise == 0
    info = json.loads((out / "run.json").read_text())
    assert info["vectors"] == {"encoder": "facenet", "dim": 512, "file": "vectors.npy"}
    vec = np.load(out / "vectors.npy", allow_pickle=False)
    assert vec.shape == (48, 512) and vec.dtype == np.float32
    assert np.allclose(np.linalg.norm(vec, axis=1), 1, atol=1e-4)
    faces = read_faces(out / "faces.jsonl")
    assert all(len(f.encoding) == 128 for f in faces)  # dlib's stays in every record
    # Row i is line i: faces of one cluster are close, of two clusters far, in FaceNet space.
    labels = np.array([f.cluster for f in faces])
    same = [
        np.linalg.norm(vec[i] - vec[j])
        for i in range(48)
        for j in range(i)
        if labels[i] == labels[j]
    ]
    other = [
        np.linalg.norm(vec[i] - vec[j])
        for i in range(48)
        for j in range(i)
        if labels[i] != labels[j]
    ]
    assert max(same) < 0.9 < min(other)
    assert len(list((out / "shards").glob("*/*.vectors.npy"))) == 5


@pytest.mark.slow
def test_resume_reuses_vectors_and_redoes_a_damaged_sidecar(facenet_run, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(facenet_run[0], out)
    before = np.load(out / "vectors.npy")
    sidecar = sorted(out.glob("shards/*/*.vectors.npy"))[1]
    sidecar.write_bytes(sidecar.read_bytes()[:-8])  # truncated: that shard is redone
    video = json.loads((out / "run.json").read_text())["inputs"][0]["path"]
    run([video], out, _settings())
    info = json.loads((out / "run.json").read_text())
    assert info["counts"]["shards_reused"] == 4 and info["counts"]["frames_encoded_now"] > 0
    assert np.allclose(np.load(out / "vectors.npy"), before, atol=1e-5)


@pytest.mark.slow
def test_other_encoder_does_not_mix_shards(facenet_run, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(facenet_run[0], out)
    video = json.loads((out / "run.json").read_text())["inputs"][0]["path"]
    with pytest.raises(Exception, match="encoder: facenet -> dlib.*--fresh"):
        run([video], out, RunSettings(workers=1, progress=False))


@pytest.mark.slow
def test_tune_sweeps_both_spaces_adapted_or_not(facenet_run, tmp_path):
    out = facenet_run[0]
    faces = read_faces(out / "faces.jsonl")
    frames: dict[int, list] = {}
    for f in faces:  # the run is right (3 clusters, no noise): its clusters are the truth
        frames.setdefault(round(f.time_s), []).append(
            {"identity": f"p{f.cluster}", "box": list(f.box)}
        )
    gt = tmp_path / "gt.json"
    gt.write_text(
        json.dumps({"fps": 10, "frames": [{"time_s": t, "faces": v} for t, v in frames.items()]})
    )
    rows = tune(out, gt, [0.5], [2])
    assert {(r.space, r.adapt) for r in rows} == {
        ("dlib", "none"),
        ("dlib", "tracks"),
        ("facenet", "none"),
        ("facenet", "tracks"),
    }
    assert {r.eps for r in rows if r.adapt == "none"} == {0.5, 0.9}
    best = {(r.space, r.adapt): r.scores.bcubed_f1 for r in rows if r.tracks}
    assert best[("dlib", "none")] == best[("facenet", "none")] == pytest.approx(1.0)


@pytest.mark.slow
def test_gallery_records_its_space_and_identify_uses_it(facenet_run, faces_video, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(facenet_run[0], out)
    (out / "clusters" / "Face_0").rename(out / "clusters" / "alice")
    g = tmp_path / "g"
    promote(out, g)
    gallery = Gallery.open(g)
    assert gallery.encoder == "facenet" and gallery.vectors().shape[1] == 512
    assert json.loads((g / "gallery.json").read_text())["encoder"] == "facenet"
    names = [r.name for r in identify([faces_video], g, settings=EncodeSettings(fps=0.5))]
    assert names.count("alice") >= 6 and set(names) == {"alice", "unknown"}
    # A dlib run cannot be promoted into it, nor cluster-named by it.
    dlib_out = tmp_path / "dlib"
    run([str(faces_video)], dlib_out, RunSettings(workers=2, progress=False))
    (dlib_out / "clusters" / "Face_0").rename(dlib_out / "clusters" / "bob")
    wanted = "holds facenet vectors.*another --gallery.*run --encoder facenet"
    with pytest.raises(GalleryError, match=wanted):
        promote(dlib_out, g)
    with pytest.raises(GalleryError, match="holds facenet vectors"):
        run([str(faces_video)], dlib_out, RunSettings(workers=1, progress=False), gallery=g)


def _look_alikes(seed: int = 0):
    """Two people 0.3 apart along one direction in which a person hardly varies, while within
    each track (one person) faces vary by ~0.5 along three other directions."""
    rng = np.random.default_rng(seed)
    d, per_track, n_tracks = 16, 6, 10
    x, tracks, people, frames = [], [], [], []
    for person in (0, 1):
        centre = np.zeros(d)
        centre[0] = 0.3 * person
        for t in range(n_tracks):
            for _ in range(per_track):
                v = centre.copy()
                v[1:4] += rng.normal(0, 0.3, 3)  # pose, light: large within a track
                v[0] += rng.normal(0, 0.01)
                v[4:] += rng.normal(0, 0.01, d - 4)
                x.append(v)
                tracks.append(person * n_tracks + t)
                people.append(person)
                frames.append(("v", len(frames)))
    return np.array(x), np.array(tracks), np.array(people), frames


def _purity(labels, people) -> float:
    return sum(
        np.bincount(people[labels == c]).max() for c in set(labels.tolist()) if c >= 0
    ) / len(people)


def _margin(v: np.ndarray, people: np.ndarray) -> float:
    """Nearest other person's face minus the farthest nearest same-person face (> 0: some
    radius clusters the two people apart)."""
    d = np.linalg.norm(v[:, None] - v[None], axis=2)
    np.fill_diagonal(d, np.inf)
    same = people[:, None] == people[None]
    return float(d[~same].min() - np.where(same, d, np.inf).min(axis=1).max())


def test_adaptation_separates_look_alikes_that_raw_distances_merge():
    x, tracks, people, frames = _look_alikes()
    assert _margin(x, people) < 0  # raw: a face's nearest neighbour can be the other person
    # Clustered without the tracks' help, no radius separates them in the raw space...
    for eps in (0.1, 0.2, 0.3, 0.4, 0.5, 0.7):
        raw = cluster_faces(x, frames, eps, 2, True)
        assert _purity(raw, people) < 1 or len(set(raw.tolist()) - {-1}) != 2
    # ...while in the space the tracks taught, one does.
    y = adapt.fit(x, tracks).apply(x)
    assert np.allclose(np.linalg.norm(y, axis=1), 1)
    assert _margin(y, people) > 0.2
    labels = cluster_faces(y, frames, 0.7, 2, True)
    assert len(set(labels.tolist()) - {-1}) == 2 and _purity(labels, people) == 1.0


def test_adaptation_needs_enough_tracks():
    x, tracks, _, _ = _look_alikes()
    assert adapt.fit(x[:12], np.arange(12)) is None  # every face its own track
    assert adapt.fit(x, tracks, keep=4).projection.shape == (16, 4)


def test_spaces_resolve_their_own_radius():
    c = ClusterSettings()
    assert c.in_space("dlib").eps == 0.5 and c.in_space("dlib").split_distance == 0.575
    fn = c.in_space("facenet")
    assert fn.eps == 0.9 and fn.split_distance == pytest.approx(0.575 * 0.9 / 0.5)
    assert ClusterSettings(eps=0.7).in_space("facenet").eps == 0.7
