"""The review page's actions called directly on Review (no server): each is a change of the
files under OUT, undoable, and the repair loop's view of the run agrees."""

from __future__ import annotations

import pytest

from clusterpipe.errors import ClusterpipeError
from clusterpipe.people.runview import load_view
from clusterpipe.review.state import Review
from clusterpipe.store.outdir import NOISE, REJECTED

from ..fake_run import make_run


@pytest.fixture
def review(tmp_path):
    out = tmp_path / "out"
    faces = make_run(out, {"alice": 4, "bob": 3, "Face_0": 3})
    (out / "montages").mkdir()
    (out / "montages" / "bob.jpg").write_bytes(b"bob's montage")
    return Review(out), {k: [f.id for f in v] for k, v in faces.items()}


def test_moves_rejects_and_noise_are_what_the_files_show(review):
    r, ids = review
    r.move(ids["Face_0"][:1], "alice")
    r.reject(ids["Face_0"][1:2])
    r.to_noise(ids["Face_0"][2:])
    where = r.locations()
    assert where[ids["Face_0"][0]] == "alice"
    assert (where[ids["Face_0"][1]], where[ids["Face_0"][2]]) == (REJECTED, NOISE)
    assert not (r.out / "clusters" / "Face_0").exists()  # emptied: removed
    now = load_view(r.out).now
    assert now[ids["Face_0"][0]] == "alice" and now[ids["Face_0"][1]] is None
    assert now[ids["Face_0"][2]] == NOISE


def test_undo_puts_back_a_folder_emptied_with_its_montage(review):
    r, ids = review
    r.move(ids["bob"], "alice")
    assert not (r.out / "clusters" / "bob").exists()
    assert not (r.out / "montages" / "bob.jpg").exists()
    r.undo()
    assert sorted(p.stem for p in (r.out / "clusters" / "bob").glob("*.jpg")) == sorted(ids["bob"])
    assert (r.out / "montages" / "bob.jpg").read_bytes() == b"bob's montage"


def test_a_rename_onto_a_name_merges_and_unknown_faces_are_refused(review):
    r, ids = review
    r.rename("Face_0", "alice")
    assert {r.locations()[i] for i in ids["Face_0"]} == {"alice"}
    with pytest.raises(ClusterpipeError, match="unknown face"):
        r.move(["nobody-0000001-0"], "alice")
    with pytest.raises(ClusterpipeError, match="nothing to undo"):
        r.undo()
        r.undo()


def test_a_nested_folder_is_named_as_a_problem_until_moved_out(review):
    r, ids = review
    (r.out / "clusters" / "Face_0").rename(r.out / "clusters" / "alice" / "Face_0")
    state = r.snapshot()
    assert [p.split(":")[0] for p in state["problems"]] == ["alice/Face_0"]
    assert not any(f["id"] in ids["Face_0"] for d in state["folders"] for f in d["faces"])
    (r.out / "clusters" / "alice" / "Face_0").rename(r.out / "clusters" / "Face_0")
    assert r.snapshot()["problems"] == []
