"""Scoring a run: the folders as the user left them, not faces.jsonl as the run wrote it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from clusterpipe.cli import cli
from clusterpipe.evaluate.tune import evaluate_run

from ..fake_run import make_run


def _truth(faces, path):
    frames: dict[int, list] = {}
    for person, fs in faces.items():
        for f in fs:
            frames.setdefault(int(f.time_s), []).append({"identity": person, "box": f.box})
    gt = {"fps": 30, "frames": [{"time_s": t, "faces": v} for t, v in sorted(frames.items())]}
    path.write_text(json.dumps(gt))
    return path


def _move(out, fid, src, dst):
    for p in (out / "clusters" / src).glob(f"{fid}.*"):
        p.rename(out / "clusters" / dst / p.name)


def test_evaluate_scores_the_folders_as_they_are_now(tmp_path):
    out = tmp_path / "out"
    faces = make_run(out, {"ann": 4, "bob": 4})
    gt = _truth(faces, tmp_path / "gt.json")
    assert evaluate_run(out, gt).bcubed_f1 == 1.0
    for f in faces["bob"]:  # two people merged by hand
        _move(out, f.id, "bob", "ann")
    (out / "clusters" / "bob").rmdir()
    merged = evaluate_run(out, gt)
    assert merged.clusters == 1 and merged.bcubed_precision < 0.6
    for p in (out / "clusters" / "ann").glob(f"{faces['ann'][0].id}.*"):
        p.unlink()  # deleted: no longer a prediction
    assert evaluate_run(out, gt).matched == 7
    result = CliRunner().invoke(cli, ["evaluate", str(out), str(gt)])
    assert result.exit_code == 0 and "matched                7" in result.output


def _gt(face: str = "", time_s: str = "1", fps: str = "1") -> str:
    return f'{{"fps": {fps}, "frames": [{{"time_s": {time_s}, "faces": [{face}]}}]}}'


@pytest.mark.parametrize(
    "gt",
    [
        _gt('{"box": [0, 0, 5, 5], "name": "a"}'),
        _gt('{"box": [0, 0, 5, 5], "identity": ["a"]}'),
        _gt('{"box": "abcd", "identity": "a"}'),
        _gt('{"box": [1, 2], "identity": "a"}'),
        _gt('{"box": [0, 0, 1e309, 5], "identity": "a"}'),
        _gt(time_s="1e309"),
        _gt(fps="NaN"),
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_a_malformed_ground_truth_is_one_line(tmp_path, gt):
    from clusterpipe.errors import InputError
    from clusterpipe.evaluate.metrics import load_ground_truth

    (tmp_path / "gt.json").write_text(gt)
    with pytest.raises(InputError, match="not a ground-truth file"):
        load_ground_truth(tmp_path / "gt.json")
