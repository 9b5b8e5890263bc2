"""`clusterpipe run` with its defaults on real motion (real_dev), scored against ground truth."""

import json
import subprocess

import pytest
from click.testing import CliRunner

from clusterpipe.cli import cli

from .conftest import run_args

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _run_clip(data_dir, tmp_path, name: str):
    """(the clip's folder, OUT) after `clusterpipe run` of real_dev's clip `name` (defaults)."""
    clip = data_dir / "real_dev" / name
    if not (clip / f"{name}.mp4").is_file():
        pytest.skip(f"real_dev not found under {data_dir}")
    out = tmp_path / name
    result = subprocess.run(run_args(clip / f"{name}.mp4", out), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return clip, out


def test_real_motion_clip_adapts_its_space_and_meets_the_target(data_dir, tmp_path):
    clip, out = _run_clip(data_dir, tmp_path, "montage_cuts")
    info = json.loads((out / "run.json").read_text())
    space = info["person_space"]
    # The tracks of real faces change shape: the space adapts, with a radius of its own.
    assert space["adapted"] and "change shape" in space["reason"], space
    assert space["evidence"]["tracks"] >= 20 and space["evidence"]["shape_tracks"] >= 8
    assert 0.6 <= space["radius"] <= 1.3 and space["rule"].startswith("2.6 x")
    assert "Person space" in (out / "report.html").read_text()
    gt = clip / "ground_truth.json"
    scored = CliRunner().invoke(cli, ["evaluate", str(out), str(gt), "--json"])
    scores = json.loads(scored.output)
    print(scores, space)
    assert scores["e2e_bcubed_f1"] >= 0.99
    assert scores["clusters"] == scores["identities"] == 12
    # The repair loop works in the same space: recluster changes nothing on a clean run.
    again = CliRunner().invoke(cli, ["recluster", str(out)])
    assert again.exit_code == 0, again.output
    rescored = CliRunner().invoke(cli, ["evaluate", str(out), str(gt), "--json"])
    assert json.loads(rescored.output)["e2e_bcubed_f1"] >= 0.99


def test_talking_heads_keep_each_speaker_whole(data_dir, tmp_path):
    """real_dev's quad clip: four talking heads a frame, each speaker recurring. The raw space
    (the heads barely change shape) and the track split must not cut a speaker in two."""
    clip, out = _run_clip(data_dir, tmp_path, "montage_quad")
    assert not json.loads((out / "run.json").read_text())["person_space"]["adapted"]
    scored = CliRunner().invoke(
        cli, ["evaluate", str(out), str(clip / "ground_truth.json"), "--json"]
    )
    scores = json.loads(scored.output)
    print(scores)
    assert scores["e2e_bcubed_f1"] >= 0.99
    assert scores["clusters"] == scores["identities"]
