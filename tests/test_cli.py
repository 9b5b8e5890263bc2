"""The click layer: help, exit codes, one-line errors, the summary."""

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from clusterpipe.cli import cli


@pytest.mark.parametrize("command", ["run", "evaluate"])
def test_every_option_is_explained(command):
    cmd = cli.commands[command]
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert param.help, f"{command} {param.opts} has no help"
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_python_dash_m_and_version():
    out = subprocess.run(
        [sys.executable, "-m", "clusterpipe", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "clusterpipe, version" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "nope.mp4"], "nope.mp4: no such file"),
        (["run", "."], "is a directory"),
        (["evaluate", "nowhere", "gt.json"], "faces.jsonl: not found"),
        (["run", "x.mp4", "--max-size", "big"], "WIDTHxHEIGHT"),
        (["run", "x.mp4", "--fps", "0"], "0<x<=120"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    result = subprocess.run(
        [sys.executable, "-m", "clusterpipe", *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    error_lines = [ln for ln in result.stderr.splitlines() if ln.startswith("Error")]
    assert len(error_lines) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "x.mp4", "--bogus"], "No such option '--bogus'. (Did you mean one of: '--out'"),
        (["bogus"], "No such command 'bogus'."),
        (["--bogus"], "No such option '--bogus'."),
        (["run"], "Missing argument 'VIDEOS...'."),
        (["export", "o", "--format", "nope"], "'nope' is not one of"),
        (["recluster", "o", "--threshold", "0.4"], "--threshold needs --gallery"),
    ],
)
def test_usage_errors_are_one_line_that_says_where_help_is(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and message in lines[0]
    assert lines[0].endswith("--help')")


def test_no_arguments_show_the_help_not_an_error():
    result = CliRunner().invoke(cli, [])
    assert "Usage: " in result.output and "Commands:" in result.output
    assert "Error" not in result.output


def test_run_on_video_without_faces(coded_video, tmp_path):
    path = coded_video(n=60, fps=30.0)
    result = CliRunner().invoke(
        cli, ["run", str(path), "--out", str(tmp_path / "o"), "--no-progress", "-j", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "0 faces -> 0 clusters, 0 noise" in result.output
    assert (tmp_path / "o" / "faces.jsonl").read_text() == ""
    assert list((tmp_path / "o" / "clusters").iterdir()) == []


@pytest.mark.parametrize("flags", [["-q"], []])
def test_quiet_hides_the_progress_bars_too(coded_video, tmp_path, flags):
    path = coded_video(n=60, fps=30.0)
    result = CliRunner().invoke(cli, [*flags, "run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "0 faces -> 0 clusters" in result.stdout  # the result is still said
    assert ("detect+encode" in result.stderr) is not bool(flags)


def test_one_broken_video_among_good_ones(coded_video, tmp_path):
    good = coded_video(n=30, fps=30.0)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    result = CliRunner().invoke(
        cli, ["run", str(good), str(bad), "--out", str(tmp_path / "o"), "--no-progress", "-j", "1"]
    )
    assert result.exit_code == 2  # the good one finished, the bad one is reported
    assert (tmp_path / "o" / "run.json").is_file()
    assert "skipped" in result.output and "bad.mp4" in result.output


def test_workers_beyond_what_the_run_can_use_are_capped_and_said(coded_video, tmp_path):
    video = coded_video(n=30, fps=10.0)  # 3 samples
    out = subprocess.run(
        [sys.executable, "-m", "clusterpipe", "run", str(video), "--out", str(tmp_path / "o")]
        + ["--no-progress", "-j", "64"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "-j 64 is more than this run can use; using 3 workers" in out.stderr


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [
        (KeyboardInterrupt(), 1, "Interrupted; finished shards are kept, run the same command"),
        (PermissionError(13, "Permission denied", "/out"), 2, "Error: [Errno 13] Permission"),
        (OSError(28, "No space left on device"), 2, "Error: [Errno 28] No space left"),
        (OSError(9, "Bad file descriptor"), 3, "unexpected OSError: [Errno 9] Bad file"),
        (ValueError("a bug"), 3, "unexpected ValueError: a bug (run with CLUSTERPIPE_DEBUG=1"),
    ],
)
def test_exit_codes_say_whose_problem_it_is(tmp_path, monkeypatch, raised, code, said):
    """The user's state (a full disk, no permission) is exit 2, a bug exit 3, Ctrl-C exit 1
    with what the command leaves behind; each one line."""
    import clusterpipe.api

    def run(*a, **kw):
        raise raised

    monkeypatch.setattr(clusterpipe.api, "run", run)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    result = CliRunner().invoke(cli, ["run", str(video), "--out", str(tmp_path / "o")])
    assert result.exit_code == code
    assert said in result.output and len(result.output.strip().splitlines()) == 1


def test_a_reader_that_goes_away_stops_the_command_quietly(tmp_path):
    """`clusterpipe status OUT | head -1`: no "unexpected BrokenPipeError", exit 141 as `yes`."""
    from .fake_run import make_run

    make_run(tmp_path / "out", {"Face_0": 3, "alice": 2})
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterpipe", "status", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before the command writes a line
    err = proc.stderr.read().decode()
    assert proc.wait() == 141, err
    assert err == ""


@pytest.mark.parametrize("where", ["group", "command"])
def test_quiet_and_verbose_go_before_or_after_the_command(tmp_path, where):
    import logging

    from .fake_run import make_run

    make_run(tmp_path / "out", {"Face_0": 3})
    log = logging.getLogger("clusterpipe")
    for flag, level in (("-q", logging.WARNING), ("-v", logging.DEBUG)):
        args = ["status", str(tmp_path / "out")]
        args = [flag, *args] if where == "group" else [*args, flag]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert log.level == level


def test_ctrl_c_while_the_command_line_loads_is_a_quiet_exit_1(monkeypatch, capsys):
    import types

    import clusterpipe.entry as entry

    loading = types.ModuleType("clusterpipe.cli")

    def interrupted(name):  # Ctrl-C arrives while `clusterpipe.cli` is imported
        raise KeyboardInterrupt

    loading.__getattr__ = interrupted  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "clusterpipe.cli", loading)
    monkeypatch.setattr(sys, "argv", ["clusterpipe", "status", "x"])
    with pytest.raises(SystemExit) as e:
        entry.main()
    assert e.value.code == 1 and capsys.readouterr().err == "Interrupted.\n"


def test_ctrl_c_once_the_command_ended_leaves_its_exit_code(monkeypatch):
    import signal
    import types

    import clusterpipe.entry as entry

    done = types.ModuleType("clusterpipe.cli")

    def main():
        raise SystemExit(0)  # what click does once the command has printed its summary

    done.main = main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "clusterpipe.cli", done)
    monkeypatch.setattr(sys, "argv", ["clusterpipe", "status", "x"])
    before = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as e:
            entry.main()
        # Python's shutdown would turn a Ctrl-C into exit 130 (seen: an export done, rc 130)
        assert e.value.code == 0 and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
