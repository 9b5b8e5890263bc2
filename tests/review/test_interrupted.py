"""Answers and undo under Ctrl-C, a busy OUT, a closed terminal and another command's changes
(found by a hostile walk of `ask` and the API): an answer is applied whole or not at all, and
undo never turns into something the user did not say."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from clusterpipe.cli import cli
from clusterpipe.errors import ClusterpipeError, StoreError
from clusterpipe.people.repair import recluster
from clusterpipe.review import ReviewServer
from clusterpipe.review.answers import answer, question
from clusterpipe.review.state import Review
from clusterpipe.store.corrections import Corrections
from clusterpipe.store.files import read_faces
from clusterpipe.store.lock import Lock

from .test_questions import _mixed_run


def _merge(review):
    """The first merge question, skipping the others."""
    while True:
        q = question(review)
        assert q["id"], "no merge question"
        if q["kind"] == "merge":
            return q
        answer(review, q["id"], "skip")


def test_ctrl_c_during_an_answer_lets_it_end_whole(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _mixed_run(out)
    review = Review(out)
    q = _merge(review)
    real = review.dir.move

    def move(*args, **kwargs):  # Ctrl-C arrives while the faces move
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        return real(*args, **kwargs)

    monkeypatch.setattr(review.dir, "move", move)
    with pytest.raises(KeyboardInterrupt):
        answer(review, q["id"], "same")
    monkeypatch.undo()
    where = review.locations()
    assert len({where[i] for i in q["a"]["faces"] + q["b"]["faces"]}) == 1  # every face moved
    assert Corrections.load(out).together  # and the answer remembered


def test_the_server_stops_only_once_the_action_in_flight_is_applied(tmp_path):
    out = tmp_path / "out"
    _mixed_run(out)
    server = ReviewServer(out, 0)
    done = []

    def action():
        with server.actions:
            time.sleep(0.3)
            done.append(True)

    threading.Thread(target=action).start()
    time.sleep(0.05)
    server.stop()  # what Ctrl-C on `clusterpipe review` runs
    assert done and not server.actions.acquire(blocking=False)  # none starts after


def test_undo_after_another_command_rewrote_the_run_is_refused(tmp_path):
    out = tmp_path / "out"
    _mixed_run(out)
    review = Review(out)
    answer(review, _merge(review)["id"], "same")
    recluster(out)  # in another terminal
    with pytest.raises(ClusterpipeError, match="another command .* rewrote the run since"):
        review.undo()
    assert Corrections.load(out).together and not Corrections.load(out).apart


def test_undo_after_the_merged_folder_was_renamed_is_refused(tmp_path):
    out = tmp_path / "out"
    _mixed_run(out)
    review = Review(out)
    q = _merge(review)
    answer(review, q["id"], "same")
    (folder,) = {review.locations()[i] for i in q["a"]["faces"]}
    gone = ({q["a"]["folder"], q["b"]["folder"]} - {folder}).pop()
    (out / "clusters" / folder).rename(out / "clusters" / "zed")
    with pytest.raises(ClusterpipeError, match="its faces have moved since"):
        review.undo()
    assert not (out / "montages" / f"{gone}.jpg").exists()
    assert Corrections.load(out).together


def test_ask_waits_for_a_command_that_holds_out_briefly(tmp_path):
    out = tmp_path / "out"
    _mixed_run(out)
    held = threading.Event()

    def hold():
        with Lock(out):
            held.set()
            time.sleep(1.0)

    threading.Thread(target=hold).start()
    held.wait()
    result = CliRunner().invoke(cli, ["ask", str(out), "--max", "1"], input="s\n")
    assert result.exit_code == 0, result.output
    assert "1 answers" in result.output


def test_ask_ends_when_the_same_answer_is_refused_twice(tmp_path, monkeypatch):
    import clusterpipe.review.answers as answers

    out = tmp_path / "out"
    _mixed_run(out)

    def refuse(*args):
        raise ClusterpipeError("clusters/Face_0/x.jpg is in the way; move it")

    monkeypatch.setattr(answers, "answer", refuse)
    result = CliRunner().invoke(cli, ["ask", str(out)], input="s\n" * 100)
    assert result.exit_code == 2, result.output
    assert result.output.count("Not applied") == 1 and "is in the way" in result.output


def test_ask_with_its_input_closed_is_a_one_line_error(tmp_path):
    out = tmp_path / "out"
    _mixed_run(out)
    r = subprocess.run(
        [sys.executable, "-m", "clusterpipe", "ask", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(0),
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "stdin" in r.stderr


def test_a_fifo_planted_as_a_run_file_is_an_error_not_a_hang(tmp_path):
    out = tmp_path / "out"
    _mixed_run(out)
    os.mkfifo(out / "corrections.json")
    with pytest.raises(StoreError, match="not a regular file"):
        Corrections.load(out)
    (out / "corrections.json").unlink()
    (out / "faces.jsonl").rename(out / "faces.bak")
    os.mkfifo(out / "faces.jsonl")
    with pytest.raises(StoreError, match="not a regular file"):
        read_faces(out / "faces.jsonl")
