"""`clusterpipe run` on the real dev footage, scored against its ground truth."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from clusterpipe.cli import cli
from clusterpipe.config import EncodeSettings
from clusterpipe.detect.boxes import iou_matrix, yolo_to_box
from clusterpipe.encode.dlib import FaceEncoder
from clusterpipe.evaluate.metrics import load_ground_truth, match_boxes

from .conftest import run_args
from .export.test_export import check_coco, check_imagefolder, check_yolo

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # the CLI on the dev footage


def test_dev_footage_clusters_and_scores(dev_run, data_dir):
    gt = data_dir / "dev" / "ground_truth.json"
    result = CliRunner().invoke(cli, ["evaluate", str(dev_run), str(gt), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    print(scores)
    assert scores["det_recall"] >= 0.99 and scores["det_precision"] >= 0.98
    assert scores["clusters"] == scores["identities"] == 14
    assert scores["bcubed_f1"] >= 0.99
    faces = [json.loads(line) for line in (dev_run / "faces.jsonl").read_text().splitlines()]
    per_frame = Counter((f["frame_index"], f["cluster"]) for f in faces if f["cluster"] >= 0)
    assert max(per_frame.values()) == 1  # no cluster holds two faces of one frame


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
        found = encoder.locate(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).boxes
        if len(found) and iou_matrix([label], found).max() >= 0.5:
            hits += 1
    assert hits >= 0.9 * len(crops)


def rename_by_ground_truth(out: Path, gt_path: Path) -> dict[int, str]:
    """Name each cluster folder after the identity most of its faces have (a perfect reviewer)."""
    gt = load_ground_truth(gt_path)
    faces = [json.loads(line) for line in (out / "faces.jsonl").read_text().splitlines()]
    votes: dict[int, Counter] = defaultdict(Counter)
    for k, frame in gt["_by_second"].items():
        preds = [f for f in faces if round(f["time_s"]) == k]
        for i, j in match_boxes([g["box"] for g in frame["faces"]], [p["box"] for p in preds]):
            if preds[j]["cluster"] >= 0:
                votes[preds[j]["cluster"]][frame["faces"][i]["identity"]] += 1
    named: dict[int, str] = {}
    for c, v in sorted(votes.items(), key=lambda kv: -sum(kv[1].values())):
        name = v.most_common(1)[0][0]
        if name not in named.values():
            (out / "clusters" / f"Face_{c}").rename(out / "clusters" / name)
            named[c] = name
    return named


def test_human_loop_on_dev_footage(dev_run, data_dir, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(dev_run, out)
    named = rename_by_ground_truth(out, data_dir / "dev" / "ground_truth.json")
    assert len(named) >= 13
    runner = CliRunner()
    status = runner.invoke(cli, ["status", str(out)])
    assert status.exit_code == 0 and "problem" not in status.output
    gallery = tmp_path / "gallery"
    assert runner.invoke(cli, ["promote", str(out), "--gallery", str(gallery)]).exit_code == 0
    again = runner.invoke(cli, ["promote", str(out), "--gallery", str(gallery)])
    assert again.exit_code == 0 and "+" not in again.output  # nothing added twice

    photos = sorted((data_dir / "dev" / "photos").glob("*/*"))
    result = runner.invoke(
        cli, ["identify", *map(str, photos), "--gallery", str(gallery), "--json"]
    )
    assert result.exit_code == 0, result.output
    best: dict[str, dict] = {}
    for rec in map(json.loads, result.output.splitlines()):
        width = rec["box"][2] - rec["box"][0]
        if (
            rec["input"] not in best
            or width > best[rec["input"]]["box"][2] - best[rec["input"]]["box"][0]
        ):
            best[rec["input"]] = rec
    correct = sum(Path(p).parent.name == r["name"] for p, r in best.items())
    print(f"identify dev photos: {correct}/{len(photos)}")
    assert correct >= 0.9 * len(photos)
    wrong = [r for p, r in best.items() if r["name"] not in ("unknown", Path(p).parent.name)]
    assert len(wrong) <= 2

    group = data_dir / "dev" / "group_photos"
    labels = json.loads((group / "labels.json").read_text())
    result = runner.invoke(
        cli, ["identify", *(str(group / f) for f in labels), "--gallery", str(gallery), "--json"]
    )
    recs = [json.loads(x) for x in result.output.splitlines()]
    hits = 0
    for fname, truth in labels.items():
        mine = [r for r in recs if Path(r["input"]).name == fname]
        for j_truth, j_pred in match_boxes([t["box"] for t in truth], [r["box"] for r in mine]):
            expected = truth[j_truth]["identity"]
            expected = expected if expected in named.values() else "unknown"
            hits += mine[j_pred]["name"] == expected
    assert hits == sum(len(t) for t in labels.values())

    for fmt in ("yolo", "imagefolder", "coco"):
        dest = tmp_path / f"ds_{fmt}"
        r = runner.invoke(cli, ["export", str(out), str(dest), "--format", fmt])
        assert r.exit_code == 0, r.output
    counts = check_yolo(tmp_path / "ds_yolo")
    classes = sorted(named.values())
    assert check_imagefolder(tmp_path / "ds_imagefolder" / "train", classes) == counts["train"]
    assert check_coco(tmp_path / "ds_coco", "val")["categories"][0]["name"] == classes[0]


def test_run_with_gallery_names_known_people(dev_run, data_dir, faces_video, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(dev_run, out)
    rename_by_ground_truth(out, data_dir / "dev" / "ground_truth.json")
    gallery = tmp_path / "gallery"
    CliRunner().invoke(cli, ["promote", str(out), "--gallery", str(gallery)])
    new = tmp_path / "new"
    result = CliRunner().invoke(
        cli,
        ["run", str(faces_video), "--out", str(new), "--gallery", str(gallery), "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in (new / "clusters").iterdir())
    assert folders == ["dlib_John_Salley", "dlib_John_Schneider", "fr_obama"]
    assert (new / "montages" / "fr_obama.jpg").is_file()
    # Running again keeps working: gallery-named folders are not "user named".
    again = CliRunner().invoke(
        cli,
        ["run", str(faces_video), "--out", str(new), "--gallery", str(gallery), "--no-progress"],
    )
    assert again.exit_code == 0, again.output


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


def test_a_killed_encoder_stops_the_run_clearly_and_resume_finishes(data_dir, dev_run, tmp_path):
    video = data_dir / "dev" / "footage.mp4"
    out = tmp_path / "out"
    args = run_args(video, out, "-j", 2, "--segment-seconds", 10)
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
    assert info["counts"]["faces"] == len((dev_run / "faces.jsonl").read_text().splitlines())
    assert np.isfinite(info["times_s"]["total"])


def test_no_near_duplicate_crosses_the_split_over_30_seeds(dev_run, data_dir, tmp_path):
    from clusterpipe.export import export
    from clusterpipe.export.dedup import thumbnails

    out = tmp_path / "out"
    shutil.copytree(dev_run, out)
    rename_by_ground_truth(out, data_dir / "dev" / "ground_truth.json")
    for images in ("crops", "frames"):
        fmt = "imagefolder" if images == "crops" else "yolo"
        for seed in range(30 if images == "crops" else 3):
            dest = tmp_path / f"{images}{seed}"
            res = export(out, dest, fmt, 0.2, seed=seed, images=images)
            assert res.near_duplicates_across_split == 0
            card = json.loads((dest / "dataset.json").read_text())
            train_only = set(card["train_only"])
            if images == "crops":
                groups = {
                    s: {c.name: sorted(c.iterdir()) for c in (dest / s).iterdir()}
                    for s in ("train", "val")
                }
            else:
                groups = {
                    s: {"all": sorted((dest / "images" / s).iterdir())} for s in ("train", "val")
                }
            for name, val in groups["val"].items():
                if name in train_only or not groups["train"].get(name):
                    continue
                t_val, t_train = thumbnails(val), thumbnails(groups["train"][name])
                worst = float((t_val @ t_train.T).max())
                assert worst < 0.95, (images, seed, name, worst)


def test_a_scripted_user_answering_questions_never_makes_the_folders_worse(dev_run, data_dir):
    from clusterpipe.review.scripted import scripted

    scores, waits = scripted(dev_run, data_dir / "dev" / "ground_truth.json", 10)
    print("dev scripted user:", [round(s, 3) for s in scores], f"max wait {max(waits):.3f} s")
    assert scores[0] >= 0.99
    assert all(b >= a - 1e-9 for a, b in zip(scores, scores[1:]))  # truthful answers only help
    assert max(waits) < 2.0
