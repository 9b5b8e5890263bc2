import errno
import json
import os

import pytest

from clusterpipe.encode.frame import FrameResult
from clusterpipe.errors import StoreError
from clusterpipe.store.atomic import atomic_open, write_json
from clusterpipe.store.files import read_faces, write_faces
from clusterpipe.store.lock import Lock
from clusterpipe.store.records import Face, VideoInfo
from clusterpipe.store.shards import ShardStore


def _face(i=0, cluster=-1):
    return Face(f"v-{i:07d}-0", "/x/v.mp4", i, i / 30, (1, 2, 30, 40), [0.125] * 128, cluster)


def test_atomic_write_leaves_old_file_when_writer_fails(tmp_path):
    path = tmp_path / "a.json"
    write_json(path, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write('{"v": 2, "half')
            raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temp file left behind


def test_a_folder_where_a_file_is_written_is_named_and_no_temp_is_left(tmp_path):
    (tmp_path / "000001.crops").mkdir()
    with pytest.raises(StoreError, match=r"000001.crops: is a folder where clusterpipe writes"):
        with atomic_open(tmp_path / "000001.crops", "wb") as f:
            f.write(b"jpeg")
    assert [p.name for p in tmp_path.iterdir()] == ["000001.crops"]


VIDEO = VideoInfo("/x/v.mp4", "v", 640, 360, 30.0, 300, 10.0, 1000)


def _result(n_faces: int) -> FrameResult:
    boxes = [[1 + 40 * k, 2, 30 + 40 * k, 40] for k in range(n_faces)]
    return FrameResult(
        boxes,
        [[0.125] * 128] * n_faces,
        [bytes([k]) * (10 + k) for k in range(n_faces)],
        [["0 0.5 0.5 0.4 0.4"]] * n_faces,
        (640, 360),
        0.1,
        0.05,
        landmarks=[[[10.0 + 40 * k, 12.0]] * 5 for k in range(n_faces)],
        scores=[0.9] * n_faces,
    )


def test_shard_and_crops_pack_round_trip(tmp_path):
    store = ShardStore(tmp_path, "abc")
    store.prepare(False, {"fps": 1})
    store.write_segment(VIDEO, 3, [(120, 4.0, _result(1)), (90, 3.0, _result(2))])
    assert store.done_segments("v") == {3}
    (shard,) = store.iter_shards("v")
    assert [f.id for f in shard["faces"]] == ["v-0000090-0", "v-0000090-1", "v-0000120-0"]
    assert shard["faces"][1].box == (41, 2, 70, 40) and shard["faces"][1].time_s == 3.0
    pack = shard["pack"].read_bytes()
    c = shard["crops"]["v-0000090-1"]
    assert pack[c["offset"] : c["offset"] + c["length"]] == bytes([1]) * 11
    assert shard["faces"][1].landmarks == [[50.0, 12.0]] * 5 and shard["faces"][1].score == 0.9


def test_truncated_or_foreign_shard_is_not_complete(tmp_path):
    store = ShardStore(tmp_path, "abc")
    store.prepare(False, {})
    for seg in range(3):
        store.write_segment(VIDEO, seg, [(30 * seg, float(seg), _result(1))])
    p0 = store.path("v", 0)
    p0.write_text(p0.read_text()[:40])  # truncated shard
    pack = store.pack_path("v", 1)
    pack.write_bytes(pack.read_bytes()[:-1])  # truncated crops pack
    ShardStore(tmp_path, "other").write_segment(VIDEO, 2, [(60, 2.0, _result(1))])  # settings
    assert store.done_segments("v") == set()


def test_other_settings_refuse_unless_fresh(tmp_path):
    ShardStore(tmp_path, "aaa").prepare(False, {"upsample": 1})
    with pytest.raises(StoreError, match="upsample: 1 -> 2.*--fresh"):
        ShardStore(tmp_path, "bbb").prepare(False, {"upsample": 2})
    fresh = ShardStore(tmp_path, "bbb")
    fresh.prepare(True, {"upsample": 2})
    assert json.loads((fresh.root / "settings.json").read_text())["fingerprint"] == "bbb"


def test_fresh_removes_only_the_shards_it_wrote(tmp_path):
    from dataclasses import replace

    store = ShardStore(tmp_path, "aaa")
    store.prepare(False, {})
    video = replace(VIDEO, key="clip-0123abcd")
    store.write_segment(video, 0, [(0, 0.0, _result(2))])
    (store.root / "clip-0123abcd" / ".000001.json.x1y2.tmp").write_text("killed")  # a kill -9
    (store.root / "notes.txt").write_text("mine")
    (store.root / "backup").mkdir()
    (store.root / "backup" / "000000.json").write_text("{}")
    (store.root / "clip-0123abcd" / "why.txt").write_text("mine")
    store.prepare(True, {})
    left = sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*"))
    assert left == [
        "backup", "backup/000000.json", "clip-0123abcd", "clip-0123abcd/why.txt", "notes.txt",
        "settings.json",
    ]  # fmt: skip
    assert store.done_segments("clip-0123abcd") == set()


def test_faces_jsonl_round_trip_and_damage_is_reported(tmp_path):
    path = tmp_path / "faces.jsonl"
    faces = [_face(i, cluster=i % 2) for i in range(3)]
    assert write_faces(path, faces) == 3
    assert read_faces(path) == faces
    path.write_text(path.read_text() + '{"id": "broken"\n')
    with pytest.raises(StoreError, match="faces.jsonl:4"):
        read_faces(path)


def test_lock_refuses_a_second_run(tmp_path):
    with Lock(tmp_path):
        with pytest.raises(StoreError, match="in use by another clusterpipe command;"):
            with Lock(tmp_path):
                pass
    with Lock(tmp_path):  # released
        pass


def test_a_waiting_lock_gets_the_folder_once_it_is_free(tmp_path):
    import threading
    import time

    first = Lock(tmp_path).__enter__()
    threading.Timer(0.4, first.__exit__).start()
    t0 = time.monotonic()
    with Lock(tmp_path, wait=5):
        assert 0.3 < time.monotonic() - t0 < 3
    with Lock(tmp_path), pytest.raises(StoreError, match=r"waited 0 s"):
        with Lock(tmp_path, wait=0.2):
            pass


@pytest.mark.parametrize("plant", [os.mkfifo, os.mkdir])
def test_a_lock_file_planted_as_a_fifo_or_folder_is_named_in_one_line(tmp_path, plant):
    from clusterpipe.store.layout import LOCK_FILE

    plant(tmp_path / LOCK_FILE)
    with pytest.raises(StoreError, match=f"{LOCK_FILE}: not a regular file"):
        with Lock(tmp_path):
            pass


def test_a_lock_whose_file_its_holder_took_away_is_taken_anew(tmp_path, monkeypatch):
    from clusterpipe.store.layout import LOCK_FILE

    first = Lock(tmp_path).__enter__()
    stale = os.open(tmp_path / LOCK_FILE, os.O_RDWR)  # a waiter opened it, then...
    (tmp_path / LOCK_FILE).unlink()  # its holder took it away (a gallery never saved)
    first.__exit__()
    waiter = Lock(tmp_path)
    opened = iter([stale])
    real = waiter._open
    monkeypatch.setattr(waiter, "_open", lambda: next(opened, None) or real())
    with waiter:  # locks the file that is there now, not the one taken away
        with pytest.raises(StoreError, match="in use by another"):
            with Lock(tmp_path):
                pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_unwritable_folder_is_a_clear_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(StoreError, match="cannot write here") as e:
        write_json(ro / "x.json", {})
    assert "--out" not in str(e.value)  # a gallery or corrections.json has no --out


def test_a_refused_write_says_what_to_do_for_any_file(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("clusterpipe.store.atomic.tempfile.mkstemp", refuse)
    with pytest.raises(StoreError, match="cannot write here") as e:
        write_json(tmp_path / "gallery" / "x.json", {})
    assert "--out" not in str(e.value)  # a gallery or corrections.json has no --out


def _tamper(store, change) -> None:
    path = store.path("v", 0)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _nan_encoding(d):
    d["faces"][0]["encoding"][5] = float("nan")


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["crops"]["v-0000000-0"].update(offset="12"),  # not a number
        lambda d: d["crops"]["v-0000000-0"].update(offset=-5),  # outside the pack
        lambda d: d["crops"]["v-0000000-0"].update(length=10**6),
        lambda d: d["frames"][0].update(sig=[0.1, 0.2, 0.3]),  # a 3-value signature
        lambda d: d["frames"][0].update(time_s=float("inf")),
        _nan_encoding,
        lambda d: d["faces"][0].update(id="../../evil-0000000-0"),  # would form a path
        lambda d: d["faces"][0].update(box=[0, 0, "9", 9]),
        lambda d: d.update(video="other"),
        lambda d: d.update(crops=[]),
        lambda d: d["faces"][0].update(landmarks=[[1, 2]] * 4),
    ],
)
def test_tampered_shards_are_redone_not_trusted(tmp_path, change):
    store = ShardStore(tmp_path, "abc")
    store.prepare(False, {})
    store.write_segment(VIDEO, 0, [(0, 0.0, _result(2))])
    assert store.done_segments("v") == {0}
    _tamper(store, change)
    assert store.done_segments("v") == set()  # treated as damaged: recomputed, never used


def test_outputs_follow_the_umask(tmp_path):
    store = ShardStore(tmp_path, "abc")
    store.prepare(False, {})
    store.write_segment(VIDEO, 0, [(0, 0.0, _result(1))])
    mode = 0o666 & ~_current_umask()
    for p in (store.path("v", 0), store.pack_path("v", 0), tmp_path / "shards" / "settings.json"):
        assert p.stat().st_mode & 0o777 == mode, p


def _current_umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(
    "field, value, why",
    [
        ("gallery_names", ["alice"], "gallery_names"),
        ("settings", "fast", "settings"),
        ("run_id", 7, "run_id"),
        ("inputs", [{"path": "/v.mp4", "key": "v", "width": "640", "height": 360}], "inputs"),
        ("vectors", "yes", "vectors"),
    ],
)
def test_run_json_of_the_wrong_shape_is_one_line_naming_it(tmp_path, field, value, why):
    from clusterpipe.store.runinfo import read_run_info

    (tmp_path / "run.json").write_text(json.dumps({"run_id": "abc", field: value}))
    with pytest.raises(StoreError, match=rf"run.json: damaged run.json \({why}.*--fresh"):
        read_run_info(tmp_path)


def test_a_lock_file_planted_as_a_link_is_not_followed(tmp_path):
    from clusterpipe.errors import ClusterpipeError
    from clusterpipe.store.layout import LOCK_FILE
    from clusterpipe.store.lock import Lock

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    folder = tmp_path / "gallery"
    folder.mkdir()
    (folder / LOCK_FILE).symlink_to(victim)
    with pytest.raises(ClusterpipeError):
        with Lock(folder):
            pass
    assert victim.read_text() == "keep me"


def test_dask_gaps_are_the_segments_whose_stream_ended_before_a_later_one_read_on():
    from clusterpipe.engines.dask_engine import gaps

    whole = [(0, False, 4.9), (1, False, 9.9), (2, True, 14.9)]
    assert gaps(whole, 5) == ()  # the last segment's stream ends: the video's end
    # Damage at 6.3 s: segment 1 ends there, segment 2 reads nothing, segment 3 seeks past it.
    hole = [(0, False, 4.9), (1, True, 6.3), (2, True, 9.8), (3, False, 19.9), (4, True, 22.0)]
    assert gaps(hole, 5) == ((6.3, 15.0),)


def test_video_stats_round_trip_their_gaps_and_say_them():
    from clusterpipe.store.records import VideoStats

    stats = VideoStats(None, 29.9, 2, gaps=((6.3, 15.0),))
    assert VideoStats.from_json(stats.to_json()) == stats
    assert stats.damage() == "damaged or truncated: could not decode 6.3-15.0 s"
    assert VideoStats(None, 29.9).damage() is None
    for bad in ("x", [[1.0]], [["a", 2.0]], [[1.0, float("nan")]], 7):
        with pytest.raises(ValueError):
            VideoStats.from_json({"last_time_s": 1.0, "gaps": bad})
