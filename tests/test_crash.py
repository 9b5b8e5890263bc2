"""kill -9 at random moments, Ctrl-C: nothing computed is lost, resume gives the same result."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import run_args

pytestmark = pytest.mark.slow  # kill -9 and Ctrl-C of whole runs


def _args(video, out):
    return run_args(video, out, "-j", 2, "--segment-seconds", 3)


def _faces(out: Path) -> list[tuple]:
    rows = [json.loads(x) for x in (out / "faces.jsonl").read_text().splitlines()]
    return sorted((r["id"], tuple(r["box"]), tuple(r["encoding"]), r["cluster"]) for r in rows)


def _spawned_pids() -> set[int]:
    pids = set()
    for p in Path("/proc").glob("[0-9]*"):
        try:
            if (
                b"clusterpipe" in (p / "cmdline").read_bytes()
                or b"spawn_main" in (p / "cmdline").read_bytes()
            ):
                pids.add(int(p.name))
        except OSError:
            pass
    return pids


@pytest.fixture(scope="module")
def reference(faces_video, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    subprocess.run(_args(faces_video, out), check=True, capture_output=True)
    return _faces(out)


def test_kill_9_at_random_moments_then_resume(faces_video, reference, tmp_path):
    out = tmp_path / "out"
    before = _spawned_pids()
    for delay in (1.2, 2.0, 2.8, 3.6, 4.4):
        proc = subprocess.Popen(
            _args(faces_video, out),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole run: parent and workers
        proc.wait()
        for shard in out.glob("shards/*/*.json"):  # never a partial shard
            json.loads(shard.read_text())
    time.sleep(0.5)
    assert not (_spawned_pids() - before), "orphan processes after kill -9"
    shards_before = {p.name for p in out.glob("shards/*/*.json")}
    result = subprocess.run(_args(faces_video, out), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    info = json.loads((out / "run.json").read_text())
    assert info["counts"]["shards_reused"] == len(shards_before)
    assert info["counts"]["frames_encoded_now"] == 24 - 3 * len(shards_before)
    assert _faces(out) == reference


def test_ctrl_c_stops_quickly_without_orphans(faces_video, tmp_path):
    out = tmp_path / "out"
    before = _spawned_pids()
    proc = subprocess.Popen(
        _args(faces_video, out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(2.5)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
    _, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 1, err
    assert "Interrupted" in err and "Traceback" not in err
    assert elapsed < 3.0, f"took {elapsed:.1f} s to stop"
    time.sleep(0.3)
    assert not (_spawned_pids() - before), "orphan processes after Ctrl-C"
