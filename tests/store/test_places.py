"""OUT's own folders are written only where they really are; a face's files by one rule; a move
never overwrites another file (reliability III, classes 1 and 5)."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from clusterpipe.cli import cli
from clusterpipe.errors import StoreError
from clusterpipe.people.repair import recluster, split
from clusterpipe.people.runview import load_view
from clusterpipe.store import places

from ..fake_run import make_run
from ..review.test_review import call, served  # noqa: F401 - the review server fixture


def _tree(root):
    """Everything under root but the lock file a command creates."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.name != ".clusterpipe.lock"
    )


def test_own_dir_refuses_links_and_escapes(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    assert places.own_dir(out, "clusters", "bob") == out / "clusters" / "bob"
    (out / "clusters" / "evil").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(StoreError, match="is a link.*never through a link"):
        places.own_dir(out, "clusters", "evil")
    (out / "noise").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(StoreError, match="noise is a link"):
        places.own_dir(out, "noise", create=False)
    (out / "montages").write_text("a file")
    with pytest.raises(StoreError, match="is a file"):
        places.own_dir(out, "montages")
    for bad in ("..", "a/b", ""):
        with pytest.raises(StoreError):
            places.own_dir(out, "clusters", bad)
    assert _tree(elsewhere) == []


@pytest.mark.parametrize("action", ["move", "rename", "merge"])
def test_review_api_never_writes_through_a_linked_folder(served, tmp_path, action):  # noqa: F811
    server, out, faces = served
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "clusters" / "evil").symlink_to(elsewhere, target_is_directory=True)
    call(server, "GET", "/api/folders")
    before = _tree(out)
    ids = [f.id for f in faces["Face_0"][:2]]
    body = {
        "move": ("/api/move", {"faces": ids, "to": "evil"}),
        "rename": ("/api/rename", {"folder": "Face_0", "to": "evil"}),
        "merge": ("/api/rename", {"folder": "alice", "to": "evil"}),
    }[action]
    status, answer = call(server, "POST", *body)
    assert status == 409 and "is a link" in answer["error"], answer
    assert _tree(elsewhere) == [] and _tree(out) == before


def test_recluster_refuses_a_linked_noise_folder_and_moves_nothing(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    make_run(out, {"Face_0": 4, "Face_1": 1})  # Face_1's lone face is noise after recluster
    (out / "noise").symlink_to(elsewhere, target_is_directory=True)
    before = _tree(out)
    result = CliRunner().invoke(cli, ["recluster", str(out)])
    assert result.exit_code == 2 and "noise is a link" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _tree(elsewhere) == [] and _tree(out) == before


def test_split_skips_a_face_number_that_is_a_link_or_a_file(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    faces = make_run(out, {"alice": 4, "bob": 4})
    mixed = out / "clusters" / "mixed"
    mixed.mkdir()
    for name in ("alice", "bob"):
        for f in faces[name]:
            for s in (".jpg", ".txt"):
                (out / "clusters" / name / f"{f.id}{s}").rename(mixed / f"{f.id}{s}")
    (out / "clusters" / "Face_2").symlink_to(elsewhere, target_is_directory=True)
    (out / "clusters" / "Face_3").write_text("the user's notes")
    made = split(out, "mixed").folders
    assert set(made) == {"Face_4", "Face_5"} and sorted(made.values()) == [4, 4]
    assert (
        _tree(elsewhere) == [] and (out / "clusters" / "Face_3").read_text() == "the user's notes"
    )


def test_a_jpeg_crop_moves_with_its_label(tmp_path):
    out = tmp_path / "out"
    faces = make_run(out, {"Face_0": 4, "Face_1": 4})
    f = faces["Face_0"][0]
    folder = out / "clusters" / "Face_0"
    (folder / f"{f.id}.jpg").rename(folder / f"{f.id}.JPEG")
    view = load_view(out)
    assert view.now[f.id] == "Face_0"
    moved = places.move_face(out, f.id, folder, ("clusters", "Face_1"))
    assert moved and not any(p.stem == f.id for p in folder.iterdir())
    assert {p.name for p in (out / "clusters" / "Face_1").iterdir() if p.stem == f.id} == {
        f"{f.id}.JPEG",
        f"{f.id}.txt",
    }


def test_a_move_never_overwrites_another_file(served):  # noqa: F811
    server, out, faces = served
    fid = faces["bob"][0].id
    mine = out / "clusters" / "alice" / f"{fid}.txt"
    mine.write_text("my own notes, not a YOLO label")
    call(server, "GET", "/api/folders")
    before = _tree(out)
    status, answer = call(server, "POST", "/api/move", {"faces": [fid], "to": "alice"})
    assert status == 409 and "in the way" in answer["error"] and fid in answer["error"]
    assert mine.read_text() == "my own notes, not a YOLO label" and _tree(out) == before
    # the same file (an identical copy) is not in the way
    os.remove(mine)
    status, _ = call(server, "POST", "/api/move", {"faces": [fid], "to": "alice"})
    assert status == 200 and (out / "clusters" / "alice" / f"{fid}.jpg").is_file()


def test_recluster_moves_jpeg_crops_too(tmp_path):
    out = tmp_path / "out"
    faces = make_run(out, {"Face_0": 4, "Face_1": 4})
    moved = faces["Face_0"][0]
    src = out / "clusters" / "Face_0" / f"{moved.id}.jpg"
    src.rename(out / "clusters" / "Face_1" / f"{moved.id}.jpeg")  # the user moved it, re-saved
    (out / "clusters" / "Face_0" / f"{moved.id}.txt").rename(
        out / "clusters" / "Face_1" / f"{moved.id}.txt"
    )
    recluster(out)
    for f in load_view(out).faces:
        where = [p for d in ("clusters", "noise") for p in (out / d).rglob(f"{f.id}.*")]
        assert len({p.parent for p in where}) == 1, where  # crop and label stay together
