"""`clusterpipe run` on the real dev footage, scored against its ground truth."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from clusterpipe.cli import cli
from clusterpipe.config import EncodeSettings
from clusterpipe.evaluate import iou_matrix
from clusterpipe.faces import FaceEncoder
from clusterpipe.generate.crops import yolo_to_box

CLI = [sys.executable, "-m", "clusterpipe"]


@pytest.fixture(scope="module")
def dev_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("dev") / "out"
    video = data_dir / "dev" / "footage.mp4"
    t0 = time.perf_counter()
    result = subprocess.run(
        [*CLI, "run", str(video), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    print(f"dev footage run: {time.perf_counter() - t0:.1f} s wall")
    return out


def test_dev_footage_clusters_and_scores(dev_run, data_dir):
    gt = data_dir / "dev" / "ground_truth.json"
    result = CliRunner().invoke(cli, ["evaluate", str(dev_run), str(gt), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    print(scores)
    assert scores["det_recall"] >= 0.99
    assert scores["clusters"] == scores["identities"] == 14
    assert scores["bcubed_f1"] >= 0.95


def test_evaluate_agrees_with_reference_scorer(dev_run, data_dir):
    gt = data_dir / "dev" / "ground_truth.json"
    ours = json.loads(CliRunner().invoke(cli, ["evaluate", str(dev_run), str(gt), "--json"]).output)
    ref = subprocess.run(
        [
            sys.executable,
            str(data_dir.parent / "tools" / "score.py"),
            str(gt),
            str(dev_run / "faces.jsonl"),
        ],
        capture_output=True,
        text=True,
    )
    if ref.returncode != 0:
        pytest.skip(f"reference scorer not runnable: {ref.stderr[-200:]}")
    last = dict(kv.split("=") for kv in ref.stdout.strip().splitlines()[-1].split())
    assert ours["bcubed_f1"] == pytest.approx(float(last["bcubed_f1"]), abs=1e-3)
    assert ours["e2e_bcubed_f1"] == pytest.approx(float(last["e2e_bcubed_f1"]), abs=1e-3)
    assert ours["pairwise_f1"] == pytest.approx(float(last["pairwise_f1"]), abs=1e-3)
    assert ours["det_recall"] == pytest.approx(float(last["det_recall"]), abs=1e-3)


def test_yolo_labels_land_on_the_faces_in_real_crops(dev_run):
    encoder = FaceEncoder(EncodeSettings(upsample=1))
    crops = sorted(dev_run.glob("clusters/*/*.jpg"))[::15]
    assert len(crops) >= 15
    hits = 0
    for crop in crops:
        image = cv2.imread(str(crop))
        h, w = image.shape[:2]
        first = crop.with_suffix(".txt").read_text().splitlines()[0]
        _, *label = yolo_to_box(first, w, h)
        found = encoder.locate(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        if len(found) and iou_matrix([label], found).max() >= 0.5:
            hits += 1
    assert hits >= 0.9 * len(crops)


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def test_a_killed_encoder_stops_the_run_clearly_and_resume_finishes(data_dir, tmp_path):
    video = data_dir / "dev" / "footage.mp4"
    out = tmp_path / "out"
    args = [
        *CLI,
        "run",
        str(video),
        "--out",
        str(out),
        "--no-progress",
        "-j",
        "2",
        "--segment-seconds",
        "10",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("shards/*/*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = [
        p for p in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
    ]
    assert len(workers) >= 3  # reader + 2 encoders (+ resource tracker is not spawn_main)
    os.kill(max(workers), signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "died (exit code -9)" in err and "run the same command again" in err
    assert "Traceback" not in err
    time.sleep(0.5)
    assert not [
        p
        for p in workers
        if Path(f"/proc/{p}").exists() and b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
    ]
    done = len(list(out.glob("shards/*/0*.json")))
    assert done >= 1
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    info = json.loads((out / "run.json").read_text())
    assert info["counts"]["shards_reused"] == done
    assert info["counts"]["faces"] == 337
    assert np.isfinite(info["times_s"]["total"])
