"""The repair loop played as a user on dev_hard: name the clean folders, split the mixed ones,
recluster; the folders end up at least as right as the run left them, in few commands."""

from __future__ import annotations

import json
import subprocess
from collections import Counter, defaultdict

import pytest

from clusterpipe.evaluate.metrics import evaluate, load_ground_truth

from ..conftest import CLI, run_args

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _folder_scores(out, gt) -> dict:
    """Score the folders as they are on disk (the files are the truth), not faces.jsonl."""
    where = {p.stem: p.parent.name for p in out.glob("clusters/*/*.jpg")}
    label = {name: k for k, name in enumerate(sorted(set(where.values())))}
    faces = [json.loads(line) for line in (out / "faces.jsonl").read_text().splitlines()]
    preds = [
        {"time_s": f["time_s"], "box": f["box"], "cluster": label.get(where.get(f["id"]), -1)}
        for f in faces
    ]
    return evaluate(preds, gt)


def _truth_by_folder(out, gt) -> dict[str, Counter]:
    """What a person looking at the crops would see: the people in each folder."""
    from clusterpipe.detect.boxes import iou_matrix

    where = {p.stem: p.parent.name for p in out.glob("clusters/*/*.jpg")}
    frames = {int(f["time_s"]): f for f in gt["frames"]}
    by: dict[str, Counter] = defaultdict(Counter)
    for line in (out / "faces.jsonl").read_text().splitlines():
        f = json.loads(line)
        folder, fr = where.get(f["id"]), frames.get(round(f["time_s"]))
        if folder is None or fr is None or not fr["faces"]:
            continue
        ious = iou_matrix([f["box"]], [g["box"] for g in fr["faces"]])[0]
        if ious.max() >= 0.3:
            by[folder][fr["faces"][int(ious.argmax())]["identity"]] += 1
    return by


def _two_people_in_one_frame(out, gt) -> int:
    """Cluster-frames where one cluster holds faces of two people (same matching as above)."""
    from clusterpipe.detect.boxes import iou_matrix

    frames = {int(f["time_s"]): f for f in gt["frames"]}
    seen: dict[tuple, set] = defaultdict(set)
    for line in (out / "faces.jsonl").read_text().splitlines():
        f = json.loads(line)
        fr = frames.get(round(f["time_s"]))
        if f["cluster"] < 0 or fr is None or not fr["faces"]:
            continue
        ious = iou_matrix([f["box"]], [g["box"] for g in fr["faces"]])[0]
        if ious.max() >= 0.3:
            person = fr["faces"][int(ious.argmax())]["identity"]
            seen[(f["cluster"], round(f["time_s"]))].add(person)
    return sum(len(people) > 1 for people in seen.values())


def test_name_split_recluster_on_dev_hard(data_dir, tmp_path):
    gt_path = data_dir / "dev_hard" / "ground_truth.json"
    gt = load_ground_truth(gt_path)
    out = tmp_path / "out"
    result = subprocess.run(
        run_args(data_dir / "dev_hard" / "footage_hard.mp4", out), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    before = _folder_scores(out, gt)
    # Issue #19's bar for the defaults (0.924 measured), and no cluster merging two people of
    # one frame.
    assert before.e2e_bcubed_f1 >= 0.92
    assert _two_people_in_one_frame(out, gt) == 0
    commands = 0
    for folder, people in _truth_by_folder(out, gt).items():
        if len(people) > 1 and people.most_common(1)[0][1] / sum(people.values()) < 0.8:
            r = subprocess.run([*CLI, "split", str(out), folder], capture_output=True, text=True)
            commands += 1
            assert r.returncode in (0, 2) and "Traceback" not in r.stderr
    renames = 0
    best: dict[str, tuple[str, int]] = {}
    for folder, people in _truth_by_folder(out, gt).items():
        person, n = people.most_common(1)[0]
        if n / sum(people.values()) >= 0.9 and n > best.get(person, ("", 0))[1]:
            best[person] = (folder, n)
    for person, (folder, _) in best.items():
        (out / "clusters" / folder).rename(out / "clusters" / person)
        renames += 1
    named = {p: sorted(x.name for x in (out / "clusters" / p).iterdir()) for p in best}
    r = subprocess.run([*CLI, "recluster", str(out), "--attach"], capture_output=True, text=True)
    commands += 1
    assert r.returncode == 0, r.stderr
    after = _folder_scores(out, gt)
    print(
        f"before {before.bcubed_f1:.3f}, after {after.bcubed_f1:.3f}; "
        f"{renames} renames, {commands} commands"
    )
    for person, files in named.items():  # recluster never takes a crop out of a named folder
        assert set(files) <= {x.name for x in (out / "clusters" / person).iterdir()}
    assert renames == 14 and commands <= 10
    assert after.bcubed_f1 >= before.bcubed_f1 >= 0.94
