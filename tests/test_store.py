import json
import os

import pytest

from clusterpipe.errors import StoreError
from clusterpipe.records import Face
from clusterpipe.store import Lock, ShardStore, atomic_open, read_faces, write_faces, write_json


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


def test_shard_round_trip_and_done_segments(tmp_path):
    store = ShardStore(tmp_path, "abc")
    store.prepare(False, {"fps": 1})
    store.write("vid", 3, [{"frame_index": 90, "time_s": 3.0}], [_face(90)])
    assert store.done_segments("vid") == {3}
    (shard,) = store.iter_shards("vid")
    assert shard["faces"][0] == _face(90)


def test_truncated_or_foreign_shard_is_not_complete(tmp_path):
    store = ShardStore(tmp_path, "abc")
    store.prepare(False, {})
    store.write("vid", 0, [], [_face()])
    store.write("vid", 1, [], [_face(30)])
    p0 = store.path("vid", 0)
    p0.write_text(p0.read_text()[:40])  # truncated
    ShardStore(tmp_path, "other").write("vid", 1, [], [_face(30)])  # other settings
    assert store.done_segments("vid") == set()


def test_other_settings_refuse_unless_fresh(tmp_path):
    ShardStore(tmp_path, "aaa").prepare(False, {"upsample": 1})
    with pytest.raises(StoreError, match="upsample: 1 -> 2.*--fresh"):
        ShardStore(tmp_path, "bbb").prepare(False, {"upsample": 2})
    fresh = ShardStore(tmp_path, "bbb")
    fresh.prepare(True, {"upsample": 2})
    assert json.loads((fresh.root / "settings.json").read_text())["fingerprint"] == "bbb"


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
        with pytest.raises(StoreError, match="in use by another clusterpipe run"):
            with Lock(tmp_path):
                pass
    with Lock(tmp_path):  # released
        pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_unwritable_folder_is_a_clear_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(StoreError, match="cannot write here"):
        write_json(ro / "x.json", {})
