""" "Same person?" questions (review II): through the API and `clusterpipe ask`, answered from
ground truth; answers move the folders, are remembered, undoable, and obeyed by recluster."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from click.testing import CliRunner

from clusterpipe.cli import cli
from clusterpipe.people.repair import recluster
from clusterpipe.people.runview import load_view
from clusterpipe.review import ReviewServer
from clusterpipe.review.questions import questions
from clusterpipe.store.corrections import Corrections

from ..fake_run import make_run
from .test_review import call


def _mixed_run(out):
    """alice named; carol cut into two unnamed folders; bob hidden inside dave's folder."""
    faces = make_run(out, {"alice": 6, "bob": 5, "carol": 8, "dave": 6})
    clusters = out / "clusters"
    (clusters / "carol").rename(clusters / "Face_0")
    (clusters / "dave").rename(clusters / "Face_1")
    (clusters / "Face_2").mkdir()
    for f in faces["carol"][:3]:
        for s in (".jpg", ".txt"):
            (clusters / "Face_0" / f"{f.id}{s}").rename(clusters / "Face_2" / f"{f.id}{s}")
    for f in faces["bob"]:
        for s in (".jpg", ".txt"):
            (clusters / "bob" / f"{f.id}{s}").rename(clusters / "Face_1" / f"{f.id}{s}")
    (clusters / "bob").rmdir()
    truth = {f.id: name for name, fs in faces.items() for f in fs}
    return truth


def _truthful(q, truth):
    a = [truth[i] for i in q["a"]["faces"]]
    b = [truth[i] for i in q["b"]["faces"]]
    return "same" if max(set(a), key=a.count) == max(set(b), key=b.count) else "different"


def _pure_and_whole(out, truth):
    view = load_view(out)
    folders: dict[str, set] = {}
    for fid, w in view.now.items():
        if w is not None:
            folders.setdefault(w, set()).add(truth[fid])
    people = [p for ps in folders.values() for p in ps]
    return all(len(ps) == 1 for ps in folders.values()) and len(people) == len(set(people))


@pytest.fixture
def asked(tmp_path):
    out = tmp_path / "out"
    truth = _mixed_run(out)
    server = ReviewServer(out, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, out, truth
    server.shutdown()
    server.server_close()


def test_ten_questions_answered_from_ground_truth_clean_the_folders(asked):
    server, out, truth = asked
    answers = 0
    for _ in range(10):
        status, q = call(server, "GET", "/api/question")
        assert status == 200
        if not q["id"]:
            break
        assert q["why"] and q["a"]["faces"] and q["b"]["faces"]
        before = json.loads((out / "corrections.json").read_text()) if answers else None
        answer = _truthful(q, truth)
        status, state = call(server, "POST", "/api/answer", {"id": q["id"], "answer": answer})
        assert status == 200, state
        assert state["next"] == call(server, "GET", "/api/question")[1]  # no second request
        answers += 1
        corr = json.loads((out / "corrections.json").read_text())
        kind = "together" if answer == "same" else "apart"
        assert len(corr.get(kind, [])) == len((before or {}).get(kind, [])) + 1
    assert 2 <= answers <= 6  # two pieces of carol to join, bob to take out of dave's folder
    assert _pure_and_whole(out, truth)
    status, q = call(server, "GET", "/api/question")
    assert q == {"id": None}
    # a stale or unknown question is refused; nothing moves
    status, err = call(server, "POST", "/api/answer", {"id": "nope", "answer": "same"})
    assert status == 400 and "out of date" in err["error"]


def test_answers_are_undoable_and_obeyed_by_recluster(asked):
    server, out, truth = asked
    q = None
    while True:
        _, q = call(server, "GET", "/api/question")
        if q["kind"] == "merge" and _truthful(q, truth) == "same":
            break
        call(server, "POST", "/api/answer", {"id": q["id"], "answer": "skip"})
    before = {p.name: sorted(x.name for x in p.iterdir()) for p in (out / "clusters").iterdir()}
    status, _ = call(server, "POST", "/api/answer", {"id": q["id"], "answer": "same"})
    assert status == 200 and "together" in json.loads((out / "corrections.json").read_text())
    status, _ = call(server, "POST", "/api/undo", {})
    assert status == 200
    assert not (out / "corrections.json").exists()  # as before the answer: no file
    after = {p.name: sorted(x.name for x in p.iterdir()) for p in (out / "clusters").iterdir()}
    assert after == before
    _, q = call(server, "GET", "/api/question")
    status, _ = call(server, "POST", "/api/answer", {"id": q["id"], "answer": _truthful(q, truth)})
    joined = set(q["a"]["faces"]) | set(q["b"]["faces"])
    recluster(out)  # the user's answer holds, whatever DBSCAN would do
    where = load_view(out).now
    assert (len({where[i] for i in joined}) == 1) == (_truthful(q, truth) == "same")


def test_undo_takes_back_its_own_answer_not_corrections_written_since(asked):
    server, out, _ = asked
    _, q = call(server, "GET", "/api/question")
    assert call(server, "POST", "/api/answer", {"id": q["id"], "answer": "different"})[0] == 200
    # Meanwhile another tab, `clusterpipe ask` or a split says something else.
    other = Corrections.load(out)
    other.together.append(["x-0000001-0", "x-0000002-0"])
    other.save(out)
    assert call(server, "POST", "/api/undo", {})[0] == 200
    corr = Corrections.load(out)
    assert corr.together == [["x-0000001-0", "x-0000002-0"]] and corr.apart == []


def test_undo_never_takes_back_a_correction_said_before_it(tmp_path):
    from clusterpipe.review.answers import keep_apart
    from clusterpipe.review.state import Review

    out = tmp_path / "out"
    make_run(out, {"alice": 3, "Face_0": 3})
    Corrections().save(out)  # a file with nothing in it is a file: undo keeps it
    review = Review(out)
    keep_apart(review, "Face_0", "alice")
    keep_apart(review, "Face_0", "alice")  # a second tab says it again
    review.undo()  # the second said nothing new: the first still holds
    assert len(Corrections.load(out).apart) == 1
    review.undo()
    assert Corrections.load(out).apart == [] and (out / "corrections.json").exists()


def test_undo_of_a_split_refuses_when_its_files_changed_since(asked):
    server, out, _ = asked
    before = (out / "faces.jsonl").read_bytes()
    assert call(server, "POST", "/api/split", {"folder": "Face_1", "into": 2})[0] == 200
    # A suggestion rejected, then undone: the split's files are as it left them again.
    assert call(server, "POST", "/api/apart", {"folder": "Face_0", "person": "alice"})[0] == 200
    assert call(server, "POST", "/api/undo", {})[0] == 200
    assert call(server, "POST", "/api/undo", {})[0] == 200
    assert (out / "faces.jsonl").read_bytes() == before
    assert call(server, "POST", "/api/split", {"folder": "Face_1", "into": 2})[0] == 200
    written = (out / "faces.jsonl").read_bytes()
    other = Corrections.load(out)
    other.together.append(["x-0000001-0", "x-0000002-0"])
    other.save(out)
    status, err = call(server, "POST", "/api/undo", {})
    assert status == 400 and "corrections.json changed since" in err["error"]
    assert (out / "faces.jsonl").read_bytes() == written  # nothing was undone
    assert Corrections.load(out).together == [["x-0000001-0", "x-0000002-0"]]


def test_a_same_answer_holds_through_recluster_even_against_the_radius(tmp_path):
    out = tmp_path / "out"
    faces = make_run(out, {"Face_0": 4, "Face_1": 4})  # two different people by their vectors
    corr = {
        "format": 1,
        "rejected": [],
        "apart": [],
        "together": [[f.id for f in faces["Face_0"] + faces["Face_1"]]],
    }
    (out / "corrections.json").write_text(json.dumps(corr))
    recluster(out)
    where = load_view(out).now
    assert len({where[f.id] for fs in faces.values() for f in fs}) == 1


def test_ask_in_the_terminal(tmp_path):
    out = tmp_path / "out"
    truth = _mixed_run(out)
    from clusterpipe.review.answers import answer, question
    from clusterpipe.review.state import Review

    answers = []
    review = Review(out)
    for _ in range(10):  # what a user who knows the people would type
        q = question(review)
        if not q["id"]:
            break
        answers.append("s" if _truthful(q, truth) == "same" else "d")
        answer(review, q["id"], "skip")  # only to walk the questions; a fresh run answers them
    result = CliRunner().invoke(cli, ["ask", str(out), "--max", "1"], input="s\n")
    assert result.exit_code == 0, result.output
    assert "same person?" in result.output and "clusters/" in result.output
    assert "1 answers" in result.output and answers


def test_ask_goes_on_when_the_folders_change_under_a_question(tmp_path, monkeypatch):
    import clusterpipe.cli.review as cli_review

    out = tmp_path / "out"
    _mixed_run(out)
    keys = iter(["s", "s", "q"])

    def key():  # before the first answer, the user moves a crop in a terminal
        k = next(keys)
        if k == "s" and not (out / "clusters" / "Face_9").exists():
            crop = next((out / "clusters" / "Face_1").glob("*.jpg"))  # the one asked about
            (out / "clusters" / "Face_9").mkdir()
            crop.rename(out / "clusters" / "Face_9" / crop.name)
        return k

    monkeypatch.setattr(cli_review, "_key", key)
    result = CliRunner().invoke(cli, ["ask", str(out)])
    assert result.exit_code == 0, result.output
    assert "Not applied: that question is out of date" in result.output
    assert "1 answers" in result.output


def test_an_empty_token_header_is_no_token(asked):
    server, _, _ = asked
    cookie = {"Cookie": f"clusterpipe_token={server.token}", "X-Clusterpipe-Token": ""}
    status, _ = call(server, "GET", "/api/folders", token=False, headers=cookie)
    assert status == 200  # the cookie authenticates; the empty header does not override it
    status, _ = call(
        server, "GET", "/api/folders", token=False, headers={"X-Clusterpipe-Token": ""}
    )
    assert status == 403


def test_a_refused_move_changes_nothing_and_bad_requests_are_400s(asked):
    server, out, truth = asked
    clusters = out / "clusters"
    ids = sorted(p.stem for p in (clusters / "Face_0").glob("*.jpg"))[:3]
    (clusters / "alice" / f"{ids[1]}.txt").write_text("mine")  # in the way of the second move
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    status, err = call(server, "POST", "/api/move", {"faces": ids, "to": "alice"})
    assert status == 409 and "in the way" in err["error"]
    after = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert [p for p in after if not p.endswith(".lock")] == [
        p for p in before if not p.endswith(".lock")
    ]  # all or nothing
    assert call(server, "POST", "/api/undo", {})[0] == 400  # nothing was done
    (clusters / "alice" / f"{ids[1]}.txt").unlink()
    status, err = call(server, "POST", "/api/split", {"folder": "Face_0", "into": 10**30})
    assert status == 400 and "at most" in err["error"]
    status, err = call(server, "POST", "/api/apart", {"folder": "alice", "person": "alice"})
    assert status == 400
    status, err = call(server, "POST", "/api/apart", {"folder": "\0noise", "person": "alice"})
    assert status == 400
    assert call(server, "GET", "/api/face/nope")[0] == 404
    assert call(server, "GET", "/frame/%2e%2e%2f")[0] == 404
    (out / "corrections.json").write_text("[" * 50000 + "]" * 50000)
    status, err = call(server, "GET", "/api/question")
    assert status == 409 and "corrections.json" in err["error"]


def _folders_in_space(spec, seed=0):
    """Folders of faces around centres (name -> (centre, n faces)), sigma giving a spread of
    0.09 (faces of one folder ~0.42 apart, RMS)."""
    rng = np.random.default_rng(seed)
    where, rows = {}, []
    for name, (centre, n) in spec.items():
        for k in range(n):
            where[f"{name}-{k}"] = name
            rows.append(centre + rng.normal(0, 0.3 / np.sqrt(128), 128))
    return where, np.array(rows), {fid: k for k, fid in enumerate(where)}


def test_odds_are_calibrated_on_folders_seen_together():
    """Two large folders as far apart as the people this run saw side by side are two people:
    a small fragment near a folder is asked about first, though the pair moves more faces."""
    axes = np.eye(128)
    at = lambda *k: sum(0.6 / np.sqrt(2) * axes[i] for i in k)  # noqa: E731 (0.6 apart)
    spec = {
        "Face_0": (at(0), 30),  # seen with Face_1..3 in crowd frames
        "Face_1": (at(1), 30),
        "Face_2": (at(2), 30),
        "Face_3": (at(3), 30),
        "Face_4": (at(4), 30),  # Face_4 and Face_5: never together, two people
        "Face_5": (at(5), 30),
        "Face_6": (at(0) + 0.3 * axes[6], 4),  # a fragment of Face_0
    }
    where, space, row = _folders_in_space(spec)
    frame_of = {fid: fid for fid in where}
    for k in range(5):  # crowd frames: Face_0..3 side by side
        for p in range(4):
            frame_of[f"Face_{p}-{k}"] = ("crowd", k)
    asked = questions(where, space, row, 0.5, set(), "noise", Corrections(), (), frame_of)
    merges = [(q.a.folder, q.b.folder) for q in asked if q.kind == "merge"]
    assert merges[0] == ("Face_0", "Face_6")
    big = [q.value for q in asked if {q.a.folder, q.b.folder} == {"Face_4", "Face_5"}]
    assert not big or big[0] < 0.5
    # With nobody seen together, the fixed curve on the centres stands in (the pair first).
    alone = {fid: fid for fid in where}
    asked = questions(where, space, row, 0.5, set(), "noise", Corrections(), (), alone)
    assert [(q.a.folder, q.b.folder) for q in asked if q.kind == "merge"][0] != ("Face_0", "Face_6")


def test_ask_takes_the_end_of_the_input_as_quit(asked):
    """`printf 'x\\ns\\n' | clusterpipe ask OUT`: a bad key asks again, the end of input quits."""
    _, out, _ = asked
    result = CliRunner().invoke(cli, ["ask", str(out)], input="x\ns\n")
    assert result.exit_code == 0, result.output
    assert "Answer s, d, k, u or q." in result.output
    assert "1 answers" in result.output and "Aborted" not in result.output
