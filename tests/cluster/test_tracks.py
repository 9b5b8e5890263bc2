import numpy as np
import pytest
from click.testing import CliRunner

from clusterpipe.cli import cli
from clusterpipe.cluster.dbscan import cluster_faces, merge_by_tracks, nearest_clusters
from clusterpipe.cluster.tracks import build_tracks, frame_signature, is_cut


def _shot(colour, n=1):
    img = np.zeros((90, 160, 3), np.uint8)
    img[:] = colour
    img[30:60, 60:100] = (255, 255, 255)
    return frame_signature(img)


def test_cut_detection_between_two_shots():
    a, a2, b = _shot((200, 50, 50)), _shot((195, 55, 52)), _shot((20, 160, 40))
    assert not is_cut(a, a2)
    assert is_cut(a, b) and is_cut(None, a)


def test_tracks_link_consecutive_samples_but_never_across_a_cut():
    red, green = _shot((200, 50, 50)), _shot((20, 160, 40))
    # Samples 0,1 in shot A; 2,3 in shot B; one face per sample, same place, same person.
    samples = [("v", 0, red), ("v", 30, red), ("v", 60, green), ("v", 90, green)]
    boxes = np.array([[100, 100, 200, 200]] * 4)
    enc = np.zeros((4, 128))
    faces_of = {("v", 0): [0], ("v", 30): [1], ("v", 60): [2], ("v", 90): [3]}
    t = build_tracks(samples, boxes, enc, faces_of)
    assert t[0] == t[1] and t[2] == t[3] and t[1] != t[2]


def test_tracks_need_overlap_and_close_encodings():
    sig = _shot((200, 50, 50))
    samples = [("v", 0, sig), ("v", 30, sig)]
    boxes = np.array([[0, 0, 100, 100], [500, 0, 600, 100], [0, 0, 100, 100], [510, 0, 610, 100]])
    enc = np.zeros((4, 128))
    enc[3, 0] = 1.0  # the right-hand face changed identity: too far to be one track
    faces_of = {("v", 0): [0, 1], ("v", 30): [2, 3]}
    t = build_tracks(samples, boxes, enc, faces_of)
    assert t[0] == t[2] and t[1] != t[3]


def test_a_track_keeps_a_turning_person_in_one_cluster():
    rng = np.random.default_rng(0)
    person = rng.normal(size=128)
    person /= np.linalg.norm(person)
    frontal = person + rng.normal(scale=0.02, size=(6, 128))
    turned = person + 0.6 * np.eye(128)[1] + rng.normal(scale=0.02, size=(4, 128))  # far apart
    enc = np.vstack([frontal, turned])
    frames = [("v", i) for i in range(10)]
    plain = cluster_faces(enc, frames, 0.5, 2, tracks=None)
    assert len(set(plain.tolist())) == 2  # DBSCAN alone splits the person
    tracks = np.zeros(10, int)  # one track through the whole shot
    merged = cluster_faces(enc, frames, 0.5, 2, tracks=tracks)
    assert len(set(merged.tolist())) == 1


def test_a_track_never_joins_two_people_of_one_frame():
    enc = np.zeros((4, 128))
    enc[2:, 0] = 1.0  # faces 2, 3 are another person
    labels = np.array([0, 0, 1, 1])
    frames = [("v", 0), ("v", 1), ("v", 0), ("v", 1)]  # both people in frames 0 and 1
    tracks = np.array([7, 7, 7, 9])  # a wrong track through 0, 1 and 2
    assert merge_by_tracks(labels, tracks, frames, enc).tolist() == [0, 0, 1, 1]


def test_noise_faces_report_and_attach_to_nearest_cluster():
    enc = np.zeros((5, 128))
    enc[3, 0] = 0.55  # noise near cluster 0
    enc[4, 0] = 3.0  # noise far from everything
    labels = np.array([0, 0, 0, -1, -1])
    lab, dist = nearest_clusters(enc, labels)
    assert lab.tolist() == [0, 0] and dist == pytest.approx([0.55, 3.0], abs=1e-4)
    # Through the run's own clustering: --assign-noise attaches the near one only.
    from clusterpipe.api import assign_clusters
    from clusterpipe.config import ClusterSettings, RunSettings
    from clusterpipe.store.records import Face

    faces = [Face(f"v-{i}", "v", i, float(i), (0, 0, 9, 9), e.tolist()) for i, e in enumerate(enc)]
    for attach, want in ((False, [0, 0, 0, -1, -1]), (True, [0, 0, 0, 0, -1])):
        c = ClusterSettings(assign_noise=attach, noise_threshold=0.6, tracks=False)
        assert assign_clusters(faces, RunSettings(cluster=c, workers=1)).tolist() == want
        assert [f.cluster for f in faces] == want
        # nearest is to the clusters as they end: attached, face 3 is cluster 0's nearest face
        assert faces[4].nearest == ((0, 2.45) if attach else (0, 3.0))
        assert faces[3].nearest == (None if attach else (0, 0.55))


def test_tune_prints_a_grid_with_the_best_first(tmp_path):
    from ..fake_run import make_run

    out = tmp_path / "run"
    faces = make_run(out, {"alice": 4, "bob": 4})
    frames = [{"time_s": float(t), "faces": []} for t in range(8)]
    for name, fs in faces.items():
        for f in fs:
            frames[int(f.time_s)]["faces"].append({"identity": name, "box": list(f.box)})
    gt = tmp_path / "gt.json"
    import json

    gt.write_text(json.dumps({"fps": 10, "frames": frames}))
    result = CliRunner().invoke(
        cli, ["tune", str(out), str(gt), "--eps", "0.3,0.5", "--min-samples", "2", "--top", "99"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # dlib space (too few tracks to adapt it) x 2 eps x 1 min_samples x (tracks + split,
    # tracks, no tracks) x same-frame split on/off, then the run's own calibrated choice
    assert len(lines) == 1 + 12 + 1 and "<- best" in lines[1]
    assert "<- calibrated" in lines[-1] and float(lines[-1].split()[2]) == 0.5
    assert lines[0].split()[:2] == ["space", "adapt"]
    assert {tuple(ln.split()[:2]) for ln in lines[1:]} == {("dlib", "none")}
    assert float(lines[1].split()[9]) == pytest.approx(1.0)
