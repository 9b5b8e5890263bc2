"""OutDir: the one model of where a run's faces are and how they move."""

from __future__ import annotations

import pytest

from clusterpipe.errors import StoreError
from clusterpipe.store.outdir import NOISE, REJECTED, OutDir, is_folder

from ..fake_run import make_run


@pytest.fixture
def run(tmp_path):
    out = tmp_path / "out"
    faces = make_run(out, {"alice": 3, "bob": 2})
    return out, faces


def test_locate_places_every_crop_and_a_folder_wins_over_noise(run):
    out, faces = run
    od = OutDir(out)
    a, b = faces["alice"], faces["bob"]
    (out / "noise").mkdir()
    (out / "rejected").mkdir()
    (out / "clusters" / "bob" / f"{b[0].id}.jpg").rename(out / "rejected" / f"{b[0].id}.jpg")
    (out / "noise" / f"{a[0].id}.jpg").write_bytes(b"copy")  # also in alice: alice's
    known = {f.id for fs in faces.values() for f in fs}
    where = od.locate(known)
    assert where[a[0].id] == "alice" and where[b[1].id] == "bob"
    assert where[b[0].id] == REJECTED
    assert not is_folder(REJECTED) and not is_folder(NOISE) and is_folder("alice")


def test_moves_are_all_or_nothing_and_an_emptied_folder_takes_its_montage(run):
    out, faces = run
    od = OutDir(out)
    (out / "montages").mkdir()
    (out / "montages" / "bob.jpg").write_bytes(b"montage")
    ids = [f.id for f in faces["bob"]]
    where = {i: "bob" for i in ids}
    # A different file of the second face's name is in the way: nothing moves.
    (out / "clusters" / "alice" / f"{ids[1]}.jpg").write_bytes(b"not this face")
    with pytest.raises(StoreError):
        od.move_all(ids, where, "alice")
    assert sorted(p.name for p in (out / "clusters" / "bob").iterdir()) == sorted(
        [f"{i}{s}" for i in ids for s in (".jpg", ".txt")]
    )
    assert where == {i: "bob" for i in ids}
    (out / "clusters" / "alice" / f"{ids[1]}.jpg").unlink()
    done = od.move_all(ids, where, "alice")
    assert done == [(i, "bob", "alice") for i in ids] and set(where.values()) == {"alice"}
    kept: dict[str, bytes | None] = {}
    assert od.remove_if_empty("bob", keep=kept)
    assert not (out / "clusters" / "bob").exists() and not (out / "montages" / "bob.jpg").exists()
    assert kept == {"montages/bob.jpg": b"montage"}
    assert not od.remove_if_empty("alice") and not od.remove_if_empty(NOISE)


def test_a_new_unnamed_folder_skips_numbers_in_use_and_those_the_run_wrote(run):
    out, _ = run
    od = OutDir(out)
    (out / "clusters" / "Face_4").write_text("a file, not a folder")
    taken = OutDir.taken(["Face_1", "alice", None, NOISE], clusters=[3, -1])
    assert taken == {1, 3}
    assert od.new_unnamed(taken) == "Face_5"  # 4 exists as a file
    assert od.new_unnamed(taken) == "Face_6"


def test_a_target_that_is_a_link_is_refused_before_anything_moves(run, tmp_path):
    out, faces = run
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "clusters" / "carol").symlink_to(elsewhere)
    with pytest.raises(StoreError, match="link"):
        OutDir(out).move_all([faces["bob"][0].id], {faces["bob"][0].id: "bob"}, "carol")
    assert not any(elsewhere.iterdir())
