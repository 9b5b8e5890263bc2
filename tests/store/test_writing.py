"""A run stopped while writing its folders: nothing reads the half-written folders as the
user's, or promotes or exports them."""

import pytest

from clusterpipe.errors import ClusterpipeError
from clusterpipe.export import export
from clusterpipe.gallery.promote import promote
from clusterpipe.people.repair import recluster
from clusterpipe.people.status import status
from clusterpipe.store.atomic import write_json
from clusterpipe.store.writing import interrupted, writing

from ..fake_run import make_run


def test_the_mark_stays_only_when_the_block_stops(tmp_path):
    with writing(tmp_path, "recluster"):
        assert interrupted(tmp_path) == "recluster"
    assert interrupted(tmp_path) is None
    with pytest.raises(KeyboardInterrupt), writing(tmp_path, "split"):
        raise KeyboardInterrupt
    assert interrupted(tmp_path) == "split"
    (tmp_path / ".clusterpipe-writing").write_text("[not json")
    assert interrupted(tmp_path) == "run"  # damaged: the most careful reading


def test_after_a_run_stopped_while_writing_only_run_may_go_on(tmp_path):
    out = tmp_path / "out"
    make_run(out, {"alice": 3, "Face_1": 3})
    write_json(out / ".clusterpipe-writing", {"command": "run"})
    for act in (
        lambda: promote(out, tmp_path / "g"),
        lambda: export(out, tmp_path / "ds", "yolo"),
        lambda: recluster(out),
    ):
        with pytest.raises(ClusterpipeError, match="run the same command again"):
            act()
    assert not (tmp_path / "g").exists() and not (tmp_path / "ds").exists()
    assert any("stopped while writing the folders" in p for p in status([out]).problems)


def test_status_while_a_command_writes_the_folders_says_so_not_stopped(tmp_path):
    from clusterpipe.store.lock import Lock

    out = tmp_path / "out"
    make_run(out, {"alice": 3, "Face_1": 3})
    write_json(out / ".clusterpipe-writing", {"command": "recluster"})
    with Lock(out):  # the recluster still runs
        said = status([out]).problems
    assert any("a `clusterpipe recluster` is writing the folders now" in p for p in said)
    assert not any("stopped" in p for p in said)
    assert not Lock.held(out) and any("stopped" in p for p in status([out]).problems)


def test_an_emptied_faces_file_is_damaged_not_a_run_without_faces(tmp_path):
    from dataclasses import replace

    from clusterpipe.store.runinfo import read_run_info

    out = tmp_path / "out"
    make_run(out, {"alice": 3})
    replace(read_run_info(out), counts={"faces": 3}).write(out)
    promote(out, tmp_path / "g")
    (out / "faces.jsonl").write_text("")
    with pytest.raises(ClusterpipeError, match="damaged .0 faces, run.json counts 3"):
        promote(out, tmp_path / "g")
    with pytest.raises(ClusterpipeError, match="damaged"):
        status([out])


def test_a_deeply_nested_face_record_is_one_line(tmp_path):
    from clusterpipe.store.files import read_faces

    (tmp_path / "faces.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ClusterpipeError, match="nested too deep"):
        read_faces(tmp_path / "faces.jsonl")


def test_a_face_id_listed_twice_is_damage_not_two_faces(tmp_path):
    out = tmp_path / "out"
    make_run(out, {"alice": 3})
    lines = (out / "faces.jsonl").read_text().splitlines()
    (out / "faces.jsonl").write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(ClusterpipeError, match=r"faces.jsonl:4: damaged: face id .* line 1"):
        status([out])


@pytest.mark.parametrize("lost", ["faces.jsonl", "run.json"])
def test_a_run_refuses_named_folders_whose_records_are_gone(tmp_path, lost):
    from clusterpipe.people.runview import keep_named

    out = tmp_path / "out"
    make_run(out, {"alice": 3})
    (out / lost).unlink()
    with pytest.raises(ClusterpipeError, match=f"{lost}: missing.*alice.*--fresh"):
        keep_named(out, ["alice"], fresh=False)
    keep_named(out, ["alice"], fresh=True)  # starting over is what was asked


def test_a_folder_a_first_run_is_writing_is_in_use_not_missing(tmp_path):
    from clusterpipe.store.lock import Lock

    out = tmp_path / "out"
    out.mkdir()
    with Lock(out):  # a first run: no run.json yet
        with pytest.raises(ClusterpipeError, match="in use by another"):
            status([out])
        with pytest.raises(ClusterpipeError, match="in use by another"):
            recluster(out)
    with pytest.raises(ClusterpipeError, match="no run.json"):
        status([out])


def test_the_review_page_changes_nothing_after_a_run_stopped_while_writing(tmp_path):
    from clusterpipe.review.answers import keep_apart
    from clusterpipe.review.state import Review

    out = tmp_path / "out"
    faces = make_run(out, {"alice": 3, "Face_1": 3})
    review = Review(out)
    write_json(out / ".clusterpipe-writing", {"command": "run"})  # a run started, then killed
    ids = [f.id for f in faces["Face_1"]]
    for act in (
        lambda: review.move(ids[:1], "alice"),
        lambda: review.to_noise(ids[:1]),
        lambda: review.rename("Face_1", "bob"),
        lambda: review.split("Face_1", 2),
        lambda: keep_apart(review, "Face_1", "alice"),
        lambda: Review(out),  # and the page does not open
    ):
        with pytest.raises(ClusterpipeError, match="run the same command again"):
            act()
    assert sorted(p.name for p in (out / "clusters").iterdir()) == ["Face_1", "alice"]
    assert len(list((out / "clusters" / "Face_1").glob("*.jpg"))) == 3
