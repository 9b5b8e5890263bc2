"""The review page's API: each action on disk, undo, names, token, Origin/Host, path escapes,
the busy lock, and the CLI's first line."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

from clusterpipe.people.runview import load_view
from clusterpipe.review import ReviewServer
from clusterpipe.store.lock import Lock

from ..conftest import CLI
from ..fake_run import make_run


@pytest.fixture
def served(tmp_path):
    out = tmp_path / "out"
    faces = make_run(out, {"alice": 6, "bob": 6, "Face_0": 5, "Face_1": 5})
    server = ReviewServer(out, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, out, faces
    server.shutdown()
    server.server_close()


def call(server, method, path, body=None, token=True, headers=None):
    """(status, decoded JSON or bytes) of one request."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    h = {"X-Clusterpipe-Token": server.token} if token is True else {}
    if body is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    conn.request(method, path, None if body is None else json.dumps(body), h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.getheader("Content-Type", "").startswith("application/json"):
        return r.status, json.loads(data)
    return r.status, data


def files(out, folder):
    return sorted(p.name for p in (out / "clusters" / folder).iterdir())


def test_folders_lists_named_first_then_unnamed_by_size(served):
    server, out, _ = served
    status, state = call(server, "GET", "/api/folders")
    assert status == 200
    assert state["order"] == ["alice", "bob", "Face_0", "Face_1"]
    f = state["folders"][0]
    assert f["named"] and len(f["faces"]) == 6
    face = f["faces"][0]
    assert set(face) >= {"id", "url", "time_s", "video"} and face["video"] == "/videos/a.mp4"
    status, jpg = call(server, "GET", face["url"])
    assert status == 200 and jpg[:2] == b"\xff\xd8"
    assert state["noise"] == [] and state["rejected"] == []


def test_move_to_a_new_name_moves_crop_and_label(served):
    server, out, faces = served
    ids = [f.id for f in faces["Face_0"][:2]]
    status, answer = call(server, "POST", "/api/move", {"faces": ids, "to": "carol"})
    assert status == 200, answer
    assert files(out, "carol") == sorted(f"{i}{s}" for i in ids for s in (".jpg", ".txt"))
    assert len(files(out, "Face_0")) == 6
    assert {f["name"] for f in answer["folders"]} == {"carol", "Face_0"}
    assert "carol" in answer["order"]
    view = load_view(out)  # the CLI sees the same state
    assert all(view.now[i] == "carol" for i in ids)


def test_move_to_a_new_person_makes_a_fresh_unnamed_folder(served):
    server, out, faces = served
    fid = faces["alice"][0].id
    status, answer = call(server, "POST", "/api/move", {"faces": [fid], "to": None})
    assert status == 200, answer
    new = [f["name"] for f in answer["folders"] if f["name"] != "alice"]
    # A number no folder has, nor faces.jsonl gave (clusters 0-3 there): Face_4.
    assert new == ["Face_4"] and (out / "clusters" / "Face_4" / f"{fid}.jpg").is_file()


def test_rename_and_rename_onto_an_existing_name_merges(served):
    server, out, faces = served
    status, answer = call(server, "POST", "/api/rename", {"folder": "Face_0", "to": "Zoë"})
    assert status == 200, answer
    assert not (out / "clusters" / "Face_0").exists() and len(files(out, "Zoë")) == 10
    status, answer = call(server, "POST", "/api/rename", {"folder": "Face_1", "to": "alice"})
    assert status == 200
    assert not (out / "clusters" / "Face_1").exists() and len(files(out, "alice")) == 22
    assert answer["order"] == ["alice", "bob", "Zoë"]  # named ones by name


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a/b", "x" * 300, 7, None])
def test_bad_names_are_refused_and_nothing_moves(served, name):
    server, out, _ = served
    call(server, "GET", "/api/folders")  # creates the lock file
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    status, answer = call(server, "POST", "/api/rename", {"folder": "Face_0", "to": name})
    assert status == 400 and "error" in answer
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_reject_keeps_the_crop_and_the_repair_loop_sees_it_rejected(served):
    server, out, faces = served
    fid = faces["bob"][0].id
    status, answer = call(server, "POST", "/api/reject", {"faces": [fid]})
    assert status == 200
    assert (out / "rejected" / f"{fid}.jpg").is_file() and (
        out / "rejected" / f"{fid}.txt"
    ).is_file()
    assert [f["id"] for f in answer["rejected"]] == [fid]
    assert load_view(out).now[fid] is None  # out of every folder: rejected by the repair loop
    # Restoring is a move back.
    status, _ = call(server, "POST", "/api/move", {"faces": [fid], "to": "bob"})
    assert status == 200 and (out / "clusters" / "bob" / f"{fid}.jpg").is_file()


def test_undo_puts_back_each_action_in_turn(served):
    server, out, faces = served
    snapshot = {d: files(out, d) for d in ("alice", "bob", "Face_0", "Face_1")}
    call(server, "POST", "/api/move", {"faces": [faces["bob"][0].id], "to": "alice"})
    call(server, "POST", "/api/rename", {"folder": "Face_0", "to": "dave"})
    call(server, "POST", "/api/reject", {"faces": [faces["Face_1"][0].id]})
    for _ in range(3):
        status, _ = call(server, "POST", "/api/undo", {})
        assert status == 200
    assert {d: files(out, d) for d in snapshot} == snapshot
    assert not (out / "clusters" / "dave").exists()
    status, answer = call(server, "POST", "/api/undo", {})
    assert status == 400 and "nothing to undo" in answer["error"]


def test_an_undo_refused_stays_to_try_again(served):
    server, out, _ = served
    snapshot = files(out, "Face_0")
    call(server, "POST", "/api/rename", {"folder": "Face_0", "to": "dave"})
    (out / "clusters" / "Face_0").mkdir()  # made again meanwhile (a terminal, another tool)
    (out / "clusters" / "Face_0" / "note.txt").write_text("mine")
    status, answer = call(server, "POST", "/api/undo", {})
    assert status == 400 and "Face_0 exists again" in answer["error"]
    (out / "clusters" / "Face_0" / "note.txt").unlink()
    (out / "clusters" / "Face_0").rmdir()
    status, _ = call(server, "POST", "/api/undo", {})  # the rename's undo, not the one before
    assert status == 200 and files(out, "Face_0") == snapshot
    assert not (out / "clusters" / "dave").exists()


def test_a_name_that_differs_only_by_case_from_a_folder_is_refused(served):
    server, out, faces = served
    status, answer = call(server, "POST", "/api/rename", {"folder": "Face_0", "to": "ALICE"})
    assert (
        status == 400 and "alice exists, which differs from ALICE only by case" in answer["error"]
    )
    status, answer = call(
        server, "POST", "/api/move", {"faces": [faces["bob"][0].id], "to": "Alice"}
    )
    assert status == 400 and "type alice to merge into it" in answer["error"]
    assert not (out / "clusters" / "ALICE").exists() and not (out / "clusters" / "Alice").exists()
    status, _ = call(server, "POST", "/api/rename", {"folder": "bob", "to": "Bob"})  # its own case
    assert status == 200 and (out / "clusters" / "Bob").is_dir()
    status, _ = call(server, "POST", "/api/rename", {"folder": "Face_0", "to": "alice"})  # merges
    assert status == 200 and len(files(out, "alice")) == 2 * (6 + 5)


def test_split_and_recluster_through_the_api(served):
    server, out, faces = served
    # Put bob's faces into Face_0: a mixed folder the split separates.
    call(server, "POST", "/api/move", {"faces": [f.id for f in faces["bob"]], "to": "Face_0"})
    status, answer = call(server, "POST", "/api/split", {"folder": "Face_0"})
    assert status == 200, answer
    assert not (out / "clusters" / "Face_0").exists()
    groups = [set(p.stem for p in d.glob("*.jpg")) for d in (out / "clusters").glob("Face_*")]
    assert {f.id for f in faces["bob"]} in groups and {f.id for f in faces["Face_0"]} in groups
    status, answer = call(server, "POST", "/api/recluster", {})
    assert status == 200, answer
    assert files(out, "alice") and answer["order"][0] == "alice"
    status, _ = call(server, "POST", "/api/undo", {})
    assert status == 200


def test_every_request_needs_the_token(served):
    server, _, faces = served
    assert call(server, "GET", "/api/folders", token=False)[0] == 403
    assert call(server, "GET", "/", token=False)[0] == 403
    wrong = {"X-Clusterpipe-Token": "x" * len(server.token)}
    assert call(server, "GET", "/api/folders", token=False, headers=wrong)[0] == 403
    status, _ = call(server, "POST", "/api/reject", {"faces": [faces["bob"][0].id]}, token=False)
    assert status == 403
    assert call(server, "GET", f"/face/{faces['bob'][0].id}", token=False)[0] == 403
    # The page's query token sets a cookie that its images and calls then carry.
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("GET", f"/?token={server.token}")
    r = conn.getresponse()
    assert r.status == 200 and b"clusterpipe review" in r.read()
    cookie = r.getheader("Set-Cookie").split(";")[0]
    assert "HttpOnly" in r.getheader("Set-Cookie") and "SameSite=Strict" in r.getheader(
        "Set-Cookie"
    )
    assert call(server, "GET", "/api/folders", token=False, headers={"Cookie": cookie})[0] == 200


def test_foreign_origin_and_host_are_refused(served):
    server, out, faces = served
    fid = faces["bob"][0].id
    evil = {"Origin": "http://evil.example"}
    assert call(server, "POST", "/api/reject", {"faces": [fid]}, headers=evil)[0] == 403
    rebinding = {"Host": f"evil.example:{server.port}"}
    assert call(server, "GET", "/api/folders", headers=rebinding)[0] == 403
    cross = {"Sec-Fetch-Site": "cross-site"}
    assert call(server, "POST", "/api/reject", {"faces": [fid]}, headers=cross)[0] == 403
    assert (out / "clusters" / "bob" / f"{fid}.jpg").is_file()
    own = {"Origin": f"http://localhost:{server.port}"}
    assert call(server, "POST", "/api/reject", {"faces": [fid]}, headers=own)[0] == 200


def test_no_path_from_a_request_leaves_out(served, tmp_path):
    server, out, faces = served
    (tmp_path / "secret.jpg").write_bytes(b"\xff\xd8secret")
    for path in ("/face/../../secret", "/face/..%2F..%2Fsecret", "/face/%2e%2e/run.json"):
        status, body = call(server, "GET", path)
        assert status == 404 and "error" in body
    escapes = [
        ("/api/rename", {"folder": "../../out", "to": "x"}),
        ("/api/split", {"folder": ".."}),
        ("/api/move", {"faces": ["../../secret"], "to": "x"}),
        ("/api/move", {"faces": [faces["bob"][0].id], "to": "../../x"}),
    ]
    for path, body in escapes:
        status, answer = call(server, "POST", path, body)
        assert status == 400, (path, answer)
    assert not (tmp_path / "x").exists() and not (out / "x").exists()
    assert call(server, "POST", "/api/move", [])[0] == 400  # not an object
    status, _ = call(server, "POST", "/api/undo", {}, headers={"Content-Type": "text/plain"})
    assert status == 415


def test_a_cli_command_holding_the_lock_makes_the_api_answer_busy(served):
    server, out, faces = served
    fid = faces["bob"][0].id
    with Lock(out):
        status, answer = call(server, "POST", "/api/move", {"faces": [fid], "to": "alice"})
        assert status == 409 and "busy" in answer["error"]
        assert call(server, "GET", "/api/folders")[0] == 409
    assert (out / "clusters" / "bob" / f"{fid}.jpg").is_file()
    assert call(server, "POST", "/api/move", {"faces": [fid], "to": "alice"})[0] == 200


def test_outliers_come_first_in_their_folder(tmp_path):
    out = tmp_path / "out"
    faces = make_run(out, {"alice": 6, "bob": 6})
    # Put one of bob's crops among alice's: it is nearer bob, so it is flagged and shown first.
    stray = faces["bob"][0].id
    for s in (".jpg", ".txt"):
        (out / "clusters" / "bob" / f"{stray}{s}").rename(
            out / "clusters" / "alice" / f"{stray}{s}"
        )
    from clusterpipe.review import Review

    alice = Review(out).state()["folders"][0]
    assert alice["name"] == "alice" and alice["faces"][0]["id"] == stray
    assert alice["faces"][0].get("outlier") and not any(
        f.get("outlier") for f in alice["faces"][1:]
    )
    assert np.isfinite([f["time_s"] for f in alice["faces"]]).all()


@pytest.mark.slow
def test_cli_prints_the_address_first_and_stops_on_ctrl_c(tmp_path):
    out = tmp_path / "out"
    make_run(out, {"alice": 3})
    proc = subprocess.Popen(
        [*CLI, "review", str(out), "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("Review at http://127.0.0.1:") and "/?token=" in line
        port = int(line.split(":")[2].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/folders", headers={"X-Clusterpipe-Token": line.split("=")[-1]})
        assert conn.getresponse().status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 1 and "Traceback" not in err and time.monotonic() - t0 < 10
    bad = subprocess.run(
        [*CLI, "review", str(tmp_path / "nothing"), "--no-browser"], text=True, capture_output=True
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "Error:" in bad.stderr


def test_two_pages_each_get_what_the_other_changed(served):
    server, out, faces = served
    a = call(server, "GET", "/api/folders")[1]["version"]  # two tabs load the folders
    b = call(server, "GET", "/api/folders")[1]["version"]
    seen = lambda v: {"X-Clusterpipe-Seen": str(v)}  # noqa: E731
    alice = [f.id for f in faces["alice"]]
    # Tab A moves a face between two existing folders...
    _, ans = call(server, "POST", "/api/move", {"faces": alice[:1], "to": "bob"}, headers=seen(a))
    assert {f["name"] for f in ans["folders"]} == {"alice", "bob"}
    # ...then tab B, which holds the older version, acts elsewhere: it gets A's folders too.
    f0 = [f.id for f in faces["Face_0"]]
    _, ans = call(server, "POST", "/api/noise", {"faces": f0[:1]}, headers=seen(b))
    got = {f["name"]: [x["id"] for x in f["faces"]] for f in ans["folders"]}
    assert {"alice", "bob", "Face_0"} <= set(got) and alice[0] in got["bob"]
    assert ans["version"] > b
    # A page that holds the newest version gets only what its own action touched.
    v = ans["version"]
    _, ans = call(server, "POST", "/api/move", {"faces": f0[1:2], "to": "Face_1"}, headers=seen(v))
    assert {f["name"] for f in ans["folders"]} == {"Face_0", "Face_1"}
