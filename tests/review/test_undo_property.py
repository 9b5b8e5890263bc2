"""Undo and corrections agree: any sequence of page actions, undone, leaves OUT byte-identical,
and an action that fails changes nothing (reliability III, class 4)."""

from __future__ import annotations

import random

import pytest

from .test_review import call, served  # noqa: F401 - the review server fixture


def _snapshot(out):
    """Every file under OUT (path -> bytes) and every folder, but the lock file."""
    files = {
        str(p.relative_to(out)): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and p.name != ".clusterpipe.lock"
    }
    folders = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_dir()}
    return files, folders


def _random_action(rng, state):
    folders = [f["name"] for f in state["folders"]]
    faces = [x["id"] for f in state["folders"] for x in f["faces"]]
    kind = rng.choice(["move", "move_new", "reject", "rename", "merge", "split", "recluster"])
    if kind == "move":
        return "/api/move", {"faces": rng.sample(faces, 2), "to": rng.choice(folders)}
    if kind == "move_new":
        return "/api/move", {"faces": rng.sample(faces, 3), "to": None}
    if kind == "reject":
        return "/api/reject", {"faces": rng.sample(faces, 1)}
    if kind == "rename":
        return "/api/rename", {"folder": rng.choice(folders), "to": f"p{rng.randrange(99)}"}
    if kind == "merge" and len(folders) > 1:  # onto another folder: a rename onto itself is
        src, dst = rng.sample(folders, 2)  # no action, and nothing to undo
        return "/api/rename", {"folder": src, "to": dst}
    if kind == "split":
        return "/api/split", {"folder": rng.choice(folders)}
    return "/api/recluster", {}


@pytest.mark.parametrize("seed", range(6))
def test_any_actions_undone_leave_out_byte_identical(served, seed):  # noqa: F811
    server, out, _ = served
    rng = random.Random(seed)
    status, state = call(server, "GET", "/api/folders")
    start = _snapshot(out)
    done = 0
    for _ in range(6):
        path, body = _random_action(rng, state)
        status, answer = call(server, "POST", path, body)
        if status == 200:
            done += 1
            _, state = call(server, "GET", "/api/folders")
        else:  # refused (a split of one person, say): nothing changed, nothing to undo
            assert status == 400, answer
    for _ in range(done):
        status, answer = call(server, "POST", "/api/undo", {})
        assert status == 200, answer
    files, folders = _snapshot(out)
    assert sorted(files) == sorted(start[0])
    assert [n for n in files if files[n] != start[0][n]] == []
    assert folders == start[1]


def test_a_split_that_refuses_writes_nothing(served):  # noqa: F811
    server, out, _ = served
    call(server, "GET", "/api/folders")
    before = _snapshot(out)
    status, answer = call(server, "POST", "/api/split", {"folder": "alice"})
    assert status == 400 and "look like one person" in answer["error"]
    assert _snapshot(out) == before
    assert not (out / "corrections.json").exists()
