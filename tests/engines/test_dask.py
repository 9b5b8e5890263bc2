"""--engine dask: same faces and clusters as the local engine; lost workers lose nothing."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("distributed", reason="the dask extra is not installed")

from clusterpipe.api import run
from clusterpipe.config import RunSettings

from ..conftest import run_args

pytestmark = pytest.mark.slow  # Dask clusters, whole runs of the dev footage


def _faces(out):
    rows = [json.loads(x) for x in (out / "faces.jsonl").read_text().splitlines()]
    return {r["id"]: r for r in rows}


def assert_same_result(a, b):
    fa, fb = _faces(a), _faces(b)
    assert set(fa) == set(fb)  # every face exactly once
    for fid, x in fa.items():
        y = fb[fid]
        assert x["box"] == y["box"] and x["time_s"] == y["time_s"]
        assert max(abs(p - q) for p, q in zip(x["encoding"], y["encoding"])) < 1e-5
        assert x["cluster"] == y["cluster"]


def test_local_cluster_equals_local_engine_on_dev_footage(dev_run, data_dir, tmp_path):
    out = tmp_path / "dask"
    result = subprocess.run(
        run_args(data_dir / "dev" / "footage.mp4", out, "--engine", "dask", "--workers", 2),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert_same_result(dev_run, out)
    assert not list(out.glob(".dask-*"))  # the workers' scratch space is gone
    assert len(_faces(out)) == len(_faces(dev_run)) >= 337
    times = json.loads((out / "run.json").read_text())["times_s"]
    assert "reader_cpu" not in times  # Dask workers do not measure it: no made-up zero


@pytest.fixture
def reference(faces_video, tmp_path):
    out = tmp_path / "ref"
    run([str(faces_video)], out, RunSettings(workers=2, segment_seconds=3, progress=False))
    return out


def test_a_killed_worker_loses_and_doubles_nothing(faces_video, reference, tmp_path):
    from dask.distributed import Client, LocalCluster

    out = tmp_path / "out"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
        # The run is a separate process, as a user's would be: one Dask client per process.
        proc = subprocess.Popen(
            run_args(
                faces_video,
                out,
                "--engine",
                "dask",
                "--address",
                cluster.scheduler_address,
                "--segment-seconds",
                3,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not list(out.glob("shards/*/*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(pids[0], signal.SIGKILL)  # a worker dies mid-run
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert_same_result(reference, out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_against_a_scheduler_started_as_separate_processes(faces_video, reference, tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    elsewhere = tmp_path / "worker"
    elsewhere.mkdir()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dask",
                    "worker",
                    address,
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=elsewhere,
            )
        )
        out = tmp_path / "out"
        result = subprocess.run(  # OUT relative to our folder, not to the worker's
            run_args(
                faces_video, "out", "--engine", "dask", "--address", address, "--segment-seconds", 3
            ),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert_same_result(reference, out)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_unreachable_scheduler_is_a_clear_error(faces_video, tmp_path):
    port = _free_port()
    result = subprocess.run(
        run_args(
            faces_video, tmp_path / "o", "--engine", "dask", "--address", f"tcp://127.0.0.1:{port}"
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot reach the Dask scheduler" in result.stderr


def test_a_port_that_never_answers_as_a_scheduler_is_a_clear_error(monkeypatch):
    """A dashboard or web server accepts the connection and never answers Dask's handshake:
    Dask's own timeout waited forever there; a bad scheme was an internal error (exit 3)."""
    from dask.distributed import Client

    import clusterpipe.engines.dask_engine as de
    from clusterpipe.errors import InputError

    monkeypatch.setattr(de, "CONNECT_S", 1)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        t = time.perf_counter()
        with pytest.raises(InputError, match="no answer as a scheduler within 6 s"):
            de._connect(Client, f"tcp://127.0.0.1:{server.getsockname()[1]}")
        assert time.perf_counter() - t < 10
    for bad in ("notaurl", "http://127.0.0.1:80", "inproc://x"):
        with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
            de._connect(Client, bad)


def test_a_lost_scheduler_is_said_as_such_with_how_to_resume():
    from distributed.client import FutureCancelledError

    from clusterpipe.engines.dask_engine import _task_failed

    lost = _task_failed(FutureCancelledError("k", "scheduler-connection-lost"), "closing")
    assert "lost the Dask scheduler" in str(lost) and "run the same command to resume" in str(lost)
    failed = _task_failed(ValueError("bad frame"), "running")
    assert str(failed) == "a Dask task failed after 3 retries: ValueError: bad frame"


def _live_mkv(src, dst):
    """Re-encode to Matroska through a pipe, as `ffmpeg ... -f matroska - > live.mkv` does: the
    container cannot be rewritten at the end, so it reports no duration and no frame count."""
    import io

    import av

    class Pipe(io.RawIOBase):
        def __init__(self, f):
            self.f = f

        def writable(self):
            return True

        def write(self, b):
            self.f.write(b)
            return len(b)

    with open(dst, "wb") as f, av.open(str(src)) as inp:
        out = av.open(Pipe(f), "w", format="matroska")
        vs = inp.streams.video[0]
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = vs.codec_context.width, vs.codec_context.height, "yuv420p"
        for frame in inp.decode(vs):
            for packet in st.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
        out.close()
    return dst


def test_dask_resume_of_a_video_without_duration_reads_it_to_the_end(faces_video, tmp_path):
    from clusterpipe.sample.video import probe

    live = _live_mkv(faces_video, tmp_path / "live.mkv")
    assert probe(live).duration_s == 0  # what the container reports
    local = tmp_path / "local"
    args = ["--segment-seconds", 3, "--workers", 2]
    assert subprocess.run(run_args(live, local, *args), capture_output=True).returncode == 0
    out = tmp_path / "dask"
    dask_args = run_args(live, out, "--engine", "dask", *args)
    assert subprocess.run(dask_args, capture_output=True).returncode == 0
    assert_same_result(local, out)
    for missing in ((1, 2, 7), (5, 6, 7)):  # gaps inside, and the whole end
        shards = sorted(out.glob("shards/*/*.json"))
        assert len(shards) == 8
        for k in missing:
            shards[k].unlink()
        result = subprocess.run(dask_args, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert_same_result(local, out)


def test_dask_reports_a_truncated_video_as_the_local_engine_does(tmp_path):
    """VideoStats, filled by both engines: a video cut in half is read up to the cut, reported
    as ended early with the seconds skipped (run.json), and the run exits 2 saying so."""
    from ..conftest import CLI, write_mp4

    full = write_mp4(tmp_path / "full.mp4", 200, 10)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    inputs = {}
    for engine in ("local", "dask"):
        out = tmp_path / engine
        result = subprocess.run(
            [*CLI, "run", cut, "--out", out, "--no-progress", "-j", "1", "--engine", engine],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "truncated or damaged" in result.stderr and "read up to 9.6 s" in result.stderr
        inputs[engine] = json.loads((out / "run.json").read_text())["inputs"][0]
    local, dask = inputs["local"], inputs["dask"]
    assert dask["ended_early"] is local["ended_early"] is True
    assert dask["last_time_s"] == local["last_time_s"] and dask["skipped_s"] == local["skipped_s"]
    assert "frames_read" in local and "frames_read" not in dask  # segments overlap: not counted


def test_dask_reports_damage_inside_a_video(tmp_path):
    """Damage in the middle: the local engine stops there; Dask's next segment seeks past it and
    reads on, so the stretch lost is said (run.json's gaps) and the run exits 2."""
    from ..conftest import CLI, write_mp4

    full = write_mp4(tmp_path / "full.mp4", 300, 10).read_bytes()
    n = len(full)
    mid = tmp_path / "mid.mp4"
    mid.write_bytes(full[: int(n * 0.45)] + bytes(n // 8) + full[int(n * 0.45) + n // 8 :])
    out = tmp_path / "out"
    result = subprocess.run(
        [*CLI, "run", mid, "--out", out, "--no-progress", "-j", "1", "--engine", "dask",
         "--segment-seconds", "5"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "could not decode 12.8-20.0 s" in result.stderr
    read = json.loads((out / "run.json").read_text())["inputs"][0]
    assert read["gaps"] == [[12.8, 20.0]] and read["last_time_s"] > 29
