"""The local engine end to end on a small clip of real faces: shards, resume, settings."""

import json
import os
import shutil
from dataclasses import replace

import pytest

from clusterpipe.api import run
from clusterpipe.config import ClusterSettings, EncodeSettings, RunSettings
from clusterpipe.engines import Engine
from clusterpipe.errors import StoreError
from clusterpipe.store.files import read_faces

pytestmark = pytest.mark.slow  # whole runs with worker processes


def _settings(**kw):
    return RunSettings(workers=2, segment_seconds=5.0, progress=False, **kw)


@pytest.fixture(scope="module")
def first_run(faces_video, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    threads = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    env = {n: os.environ.get(n) for n in threads}
    res = run([str(faces_video)], out, _settings())
    # The workers get one BLAS thread each; the caller's own environment is left alone.
    assert {n: os.environ.get(n) for n in threads} == env
    return out, res


def _run_info(out):
    return json.loads((out / "run.json").read_text())


def test_run_writes_the_documented_layout(first_run):
    out, res = first_run
    assert res.faces == 48  # 24 sampled seconds x 2 faces
    assert res.clusters == 3 and res.noise == 0
    assert sorted(p.name for p in (out / "shards").iterdir()) == [
        "settings.json",
        "two_faces-" + res.videos[0].key.split("-")[-1],
    ]
    assert len(list((out / "shards").glob("*/*.json"))) == 5  # 24 s in 5 s segments
    assert sorted(p.name for p in (out / "clusters").iterdir()) == ["Face_0", "Face_1", "Face_2"]
    assert all(p.is_dir() for p in (out / "clusters").iterdir())
    assert sorted(p.name for p in (out / "montages").iterdir()) == [
        "Face_0.jpg",
        "Face_1.jpg",
        "Face_2.jpg",
    ]
    assert (out / "report.html").is_file()
    info = _run_info(out)
    assert info["counts"]["faces"] == 48 and info["inputs"][0]["fps"] == 10.0
    times = info["times_s"]
    assert set(times) >= {"detect_encode", "cluster", "generate", "total"}
    # Where the CPU went: the reader decoded, the encoder processes did at least dlib's work.
    assert times["reader_cpu"] > 0 and times["encoder_process_cpu"] >= times["detect_encode_cpu"]
    assert info["versions"]["dlib"]


def test_faces_jsonl_records(first_run):
    out, res = first_run
    lines = [json.loads(x) for x in (out / "faces.jsonl").read_text().splitlines()]
    assert len(lines) == 48 and len({x["id"] for x in lines}) == 48
    for x in lines:
        keys = {"id", "video", "frame_index", "time_s", "box", "cluster", "encoding"}
        assert set(x) == keys | {"landmarks", "score"}
        assert len(x["landmarks"]) == 5 and 0.8 <= x["score"] <= 1
        for px, py in x["landmarks"]:
            assert (
                x["box"][0] - 5 <= px <= x["box"][2] + 5
                and x["box"][1] - 5 <= py <= x["box"][3] + 5
            )
        assert x["frame_index"] == round(x["time_s"] * 10)
        x1, y1, x2, y2 = x["box"]
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 360  # original pixels
        assert len(x["encoding"]) == 128
        crop = out / "clusters" / f"Face_{x['cluster']}" / f"{x['id']}.jpg"
        assert crop.is_file() and crop.with_suffix(".txt").is_file()
    # Two faces per frame, always in two different clusters.
    by_frame = {}
    for x in lines:
        by_frame.setdefault(x["frame_index"], set()).add(x["cluster"])
    assert all(len(c) == 2 for c in by_frame.values())


def test_resume_reuses_every_shard_and_gives_the_same_result(first_run, tmp_path):
    out, copy = first_run[0], _copy(first_run, tmp_path)
    before = (copy / "faces.jsonl").read_text()
    run([str(_video(out))], copy, _settings())
    info = _run_info(copy)
    assert info["counts"]["frames_encoded_now"] == 0 and info["counts"]["shards_reused"] == 5
    assert (copy / "faces.jsonl").read_text() == before


class _NoEngine(Engine):
    """An engine that must not be used."""

    name = "_no_engine_test"

    def encode(self, jobs, enc, store):
        raise AssertionError("an engine was started for a video whose shards are all done")


Engine.registry.pop(_NoEngine.name)  # a test double, not a choice of the settings


def test_a_fully_resumed_run_starts_no_worker(first_run, tmp_path):
    out, copy = first_run[0], _copy(first_run, tmp_path)
    before = _run_info(copy)["inputs"][0]
    idle = _NoEngine.from_settings(_settings(), 1)
    run([str(_video(out))], copy, _settings(), engine=idle)
    after = _run_info(copy)["inputs"][0]
    assert {k: after[k] for k in ("frames_read", "last_time_s", "damaged_frames")} == {
        k: before[k] for k in ("frames_read", "last_time_s", "damaged_frames")
    }
    # One shard missing: that video is read again.
    next(iter(sorted(copy.glob("shards/*/*.json")))).unlink()
    with pytest.raises(AssertionError, match="an engine was started"):
        run([str(_video(out))], copy, _settings(), engine=idle)


def test_a_folder_named_while_a_resumed_run_encodes_is_kept(first_run, tmp_path):
    out, copy = first_run[0], _copy(first_run, tmp_path)
    sorted(copy.glob("shards/*/*.json"))[2].unlink()  # something to encode
    alice = sorted(p.name for p in (copy / "clusters" / "Face_0").iterdir())
    local = Engine.get("local")

    class RenamingMeanwhile(local):  # type: ignore[valid-type,misc]
        name = "_renaming_test"

        def encode(self, *a, **kw):  # the user renames a folder while the run encodes
            (copy / "clusters" / "Face_0").rename(copy / "clusters" / "alice")
            return super().encode(*a, **kw)

    Engine.registry.pop(RenamingMeanwhile.name)  # a test double, not a choice of the settings
    engine = RenamingMeanwhile.from_settings(_settings(), 1)
    run([str(_video(out))], copy, _settings(), engine=engine)
    assert sorted(p.name for p in (copy / "clusters" / "alice").iterdir()) == alice
    elsewhere = [p for p in (copy / "clusters").glob("Face_*/*") if p.name in alice]
    assert elsewhere == []  # not copied back into a regenerated Face_<n>


def test_resume_redoes_only_missing_and_damaged_shards(first_run, tmp_path):
    out, copy = first_run[0], _copy(first_run, tmp_path)
    before = (copy / "faces.jsonl").read_text()
    shards = sorted(copy.glob("shards/*/*.json"))
    shards[1].unlink()  # missing: segment 5-10 s
    shards[3].write_text(shards[3].read_text()[:100])  # truncated: segment 15-20 s
    run([str(_video(out))], copy, _settings())
    info = _run_info(copy)
    assert info["counts"]["frames_encoded_now"] == 10
    assert info["counts"]["shards_reused"] == 3 and info["counts"]["shards_written"] == 2
    assert (copy / "faces.jsonl").read_text() == before


def test_other_encoding_settings_do_not_mix(first_run, tmp_path):
    out, copy = first_run[0], _copy(first_run, tmp_path)
    other = _settings(encode=EncodeSettings(upsample=0))
    with pytest.raises(StoreError, match="other encoding settings.*--fresh"):
        run([str(_video(out))], copy, other)
    # How the work is cut into segments decides which shard holds which faces: never mixed.
    with pytest.raises(StoreError, match="segment_seconds: 5.0 -> 3.0.*--fresh"):
        run([str(_video(out))], copy, RunSettings(workers=2, segment_seconds=3.0, progress=False))
    # Clustering settings do not invalidate shards.
    run([str(_video(out))], copy, _settings(cluster=ClusterSettings(eps=0.45)))
    assert _run_info(copy)["counts"]["frames_encoded_now"] == 0
    res = run(
        [str(_video(out))],
        copy,
        RunSettings(encode=EncodeSettings(upsample=0), workers=1, fresh=True, progress=False),
    )
    assert _run_info(copy)["counts"]["frames_encoded_now"] == 24 and res.faces > 0


def test_named_folders_are_never_overwritten(first_run, tmp_path):
    out, copy = first_run[0], _copy(first_run, tmp_path)
    (copy / "clusters" / "Face_0").rename(copy / "clusters" / "alice")
    files = sorted(p.name for p in (copy / "clusters" / "alice").iterdir())
    res = run([str(_video(out))], copy, _settings())  # no longer refused: alice is kept
    assert sorted(p.name for p in (copy / "clusters" / "alice").iterdir()) == files
    assert res.faces == 48 and res.clusters == 2  # the two unnamed people, re-clustered


def test_faces_match_between_one_and_two_workers(first_run, tmp_path):
    out, _ = first_run
    run(
        [str(_video(out))],
        tmp_path / "one",
        RunSettings(workers=1, segment_seconds=5.0, progress=False),
    )
    a = [(f.id, f.box, f.encoding) for f in read_faces(out / "faces.jsonl")]
    b = [(f.id, f.box, f.encoding) for f in read_faces(tmp_path / "one" / "faces.jsonl")]
    assert a == b


def test_the_opencv_decoder_finds_the_same_faces(first_run, tmp_path):
    out, _ = first_run
    run([str(_video(out))], tmp_path / "cv", _settings(encode=EncodeSettings(decoder="opencv")))
    a = [(f.id, f.box, f.encoding) for f in read_faces(out / "faces.jsonl")]
    b = [(f.id, f.box, f.encoding) for f in read_faces(tmp_path / "cv" / "faces.jsonl")]
    assert a == b


def _copy(first_run, tmp_path):
    """A copy of the first run's output folder, for a test to change."""
    copy = tmp_path / "out"
    shutil.copytree(first_run[0], copy)
    return copy


def _video(out):
    return json.loads((out / "run.json").read_text())["inputs"][0]["path"]


def test_the_users_own_files_in_out_are_never_removed(first_run, tmp_path):
    out = _copy(first_run, tmp_path)
    mine = {
        out / "clusters" / "notes.txt": "who is who",
        out / "clusters" / "Face_0" / "my note.txt": "this one is Ann",
        out / "noise" / "README.txt": "mine",
        out / "montages" / "poster.png": "mine",
        out / ".generate.tmp" / "keep.txt": "a folder named like the old temp folder",
    }
    for path, text in mine.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for settings in (_settings(), RunSettings(workers=2, segment_seconds=5.0, fresh=True)):
        run([_video(out)], out, replace(settings, progress=False))
        for path, text in mine.items():
            assert path.read_text() == text, path
        assert len(list(out.glob("clusters/Face_*/*.jpg"))) == 48  # ours, regenerated
    stages = [p.name for p in out.iterdir() if p.name.startswith(".generate.")]
    assert stages == [".generate.tmp"]  # the user's; ours are gone


def test_a_corrected_gallery_folder_is_never_regenerated(first_run, faces_video, tmp_path):
    from clusterpipe.gallery.promote import promote

    named = _copy(first_run, tmp_path)
    (named / "clusters" / "Face_0").rename(named / "clusters" / "alice")
    promote(named, tmp_path / "g")
    out = tmp_path / "second"
    res = run([str(faces_video)], out, _settings(), gallery=tmp_path / "g")
    assert set(res.names.values()) == {"alice"}
    run([str(faces_video)], out, _settings(), gallery=tmp_path / "g")  # untouched: regenerated
    crops = sorted((out / "clusters" / "alice").glob("*.jpg"))
    crops[0].unlink()  # the user rejects one face: alice is the user's folder now
    run([str(faces_video)], out, _settings(), gallery=tmp_path / "g")
    assert sorted((out / "clusters" / "alice").glob("*.jpg")) == crops[1:]  # nothing restored
    assert not list(out.glob(f"*/{crops[0].name}")) and not list(out.glob(f"*/*/{crops[0].name}"))


def test_run_on_a_folder_with_named_people_keeps_them_and_every_correction(
    first_run, faces_video, tmp_path, caplog
):
    from ..conftest import read_frames, write_video

    out = _copy(first_run, tmp_path)
    (out / "clusters" / "Face_0").rename(out / "clusters" / "alice")
    alice = sorted(p.name for p in (out / "clusters" / "alice").iterdir())
    rejected = sorted((out / "clusters" / "Face_1").glob("*.jpg"))[0]
    rejected.unlink()
    rejected.with_suffix(".txt").unlink()
    # A second video: the first 12 s of the same people, as another file.
    more = write_video(tmp_path / "more.mp4", read_frames(faces_video, 120), 10.0, (640, 360))
    res = run([_video(out), str(more)], out, _settings())
    assert sorted(p.name for p in (out / "clusters" / "alice").iterdir()) == alice
    where = {p.stem: p.parent.name for p in out.glob("clusters/*/*.jpg")}
    assert rejected.stem not in where and not list(out.glob(f"noise/{rejected.stem}.*"))
    info = json.loads((out / "run.json").read_text())
    assert info["counts"]["new_faces"] == 24 and res.faces == 48 + 24
    new = [f for f in read_faces(out / "faces.jsonl") if "more" in f.id]
    assert len(new) == 24 and all(where.get(f.id, "noise") != "alice" for f in new)
    assert (out / "corrections.json").is_file()
    # With --attach, alice's new faces join her folder; nothing of hers is lost.
    run([_video(out), str(more)], out, _settings(), attach=True)
    now = sorted(p.name for p in (out / "clusters" / "alice").iterdir())
    assert set(alice) < set(now) and any("more" in n for n in now)
    with caplog.at_level("WARNING", logger="clusterpipe"):  # --fresh says what it discards
        run([_video(out)], out, replace(_settings(), fresh=True))
    assert "--fresh: discarding the faces of 1 named folders (alice)" in caplog.text


def test_a_deleted_crop_never_comes_back_even_without_named_folders(first_run, tmp_path):
    out = _copy(first_run, tmp_path)
    gone = sorted(out.glob("clusters/Face_1/*.jpg"))[0]
    gone.unlink()
    gone.with_suffix(".txt").unlink()
    run([_video(out)], out, _settings())
    assert not list(out.glob(f"**/{gone.name}"))  # rejected, remembered
    assert gone.stem in json.loads((out / "corrections.json").read_text())["rejected"]
    run([_video(out)], out, _settings())  # and again
    assert not list(out.glob(f"**/{gone.name}"))
    clean = _copy(first_run, tmp_path / "clean")
    run([_video(out)], clean, _settings())  # nothing corrected: regenerated, no file made
    assert not (clean / "corrections.json").exists()


def test_frames_export_labels_every_face_of_each_frame(first_run, tmp_path):
    import cv2
    import yaml

    from clusterpipe.export import export

    out = _copy(first_run, tmp_path)
    (out / "clusters" / "Face_0").rename(out / "clusters" / "alice")
    alice = {p.stem for p in (out / "clusters" / "alice").glob("*.jpg")}
    faces = read_faces(out / "faces.jsonl")
    by_frame: dict[int, list] = {}
    for f in faces:
        by_frame.setdefault(f.frame_index, []).append(f)
    res = export(out, tmp_path / "y", "yolo", 0.2, images="frames")
    names = yaml.safe_load((tmp_path / "y" / "data.yaml").read_text())["names"]
    assert names == {0: "alice", 1: "face"} and res.classes == ["alice", "face"]
    images = sorted((tmp_path / "y" / "images").glob("*/*.jpg"))
    assert len(images) == len({f.frame_index for f in faces if f.id in alice})
    for img in images:
        frame = cv2.imread(str(img))
        assert frame.shape == (360, 640, 3)  # the original frame, not a crop
        label = img.parent.parent.parent / "labels" / img.parent.name / f"{img.stem}.txt"
        got = []
        for line in label.read_text().splitlines():
            c, xc, yc, w, h = line.split()
            xc, yc, w, h = float(xc) * 640, float(yc) * 360, float(w) * 640, float(h) * 360
            got.append((int(c), round(xc - w / 2), round(yc - h / 2), round(xc + w / 2)))
        frame_index = int(img.stem.split("-")[-2])
        want = [
            (0 if f.id in alice else 1, f.box[0], f.box[1], f.box[2]) for f in by_frame[frame_index]
        ]
        assert sorted(got) == sorted(want), img.name  # every face of the frame, right class
    export(out, tmp_path / "c", "coco", 0.0, images="frames", single_class=True)
    coco = json.loads((tmp_path / "c" / "annotations" / "instances_train.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["face"]
    assert len(coco["annotations"]) == sum(len(by_frame[i]) for i in by_frame)


def test_a_run_around_named_folders_names_the_people_a_gallery_knows(first_run, tmp_path):
    from clusterpipe.gallery.promote import promote

    known = _copy(first_run, tmp_path / "known")
    (known / "clusters" / "Face_1").rename(known / "clusters" / "bob")
    promote(known, tmp_path / "g")
    out = _copy(first_run, tmp_path)
    (out / "clusters" / "Face_0").rename(out / "clusters" / "alice")  # a named folder
    bob = {p.name for p in (out / "clusters" / "Face_1").iterdir()}
    res = run([_video(out)], out, _settings(), gallery=tmp_path / "g")
    assert {p.name for p in (out / "clusters" / "bob").iterdir()} == bob
    assert not (out / "clusters" / "Face_1").exists()
    made = [d for d in (out / "clusters").iterdir() if d.name != "alice"]
    assert res.clusters == len(made)  # bob, named by the gallery, counts as a cluster made
    assert json.loads((out / "run.json").read_text())["counts"]["clusters"] == len(made)


def _layout(out):
    """Each crop's folder, and the corrections recorded."""
    where = {p.name: p.parent.name for p in out.glob("clusters/*/*.jpg")}
    where |= {p.name: "noise" for p in out.glob("noise/*.jpg")}
    corr = out / "corrections.json"
    return where, json.loads(corr.read_text()) if corr.exists() else None


def test_a_run_stopped_while_swapping_its_folders_is_finished_by_the_next(
    first_run, faces_video, tmp_path, monkeypatch
):
    import clusterpipe.generate as gen
    from clusterpipe.generate.swap import remove_generated

    out = _copy(first_run, tmp_path)
    real = gen.swap_in

    def stopped(stage, out_, ours):  # the old folders gone, the new ones not yet in
        remove_generated(out_, ours)
        raise KeyboardInterrupt

    monkeypatch.setattr(gen, "swap_in", stopped)
    with pytest.raises(KeyboardInterrupt):
        run([str(faces_video)], out, _settings())
    assert not list(out.glob("clusters/*/*.jpg"))
    monkeypatch.setattr(gen, "swap_in", real)
    run([str(faces_video)], out, _settings())
    assert _layout(out) == _layout(first_run[0])  # every crop back, nothing rejected
    assert not list(out.glob(".generate.*")) and not (out / ".clusterpipe-writing").exists()
