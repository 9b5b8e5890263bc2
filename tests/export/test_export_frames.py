"""Frames exports a practitioner trusts (datasets II): every face the run found labelled at any
--min-faces, rejected detections dropped, small faces masked, face-free backgrounds, and a card
that says so. One run of a real-face clip with face-free seconds."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import cv2
import numpy as np
import pytest
import yaml

from clusterpipe.api import run
from clusterpipe.config import RunSettings
from clusterpipe.errors import ClusterpipeError
from clusterpipe.export import export
from clusterpipe.store.files import read_faces

from ..conftest import read_frames, write_video

pytestmark = pytest.mark.slow  # one whole run


@pytest.fixture(scope="module")
def named_run(faces_video, tmp_path_factory):
    """The faces clip with 6 s of empty frames after it, run and its three people named."""
    frames = read_frames(faces_video)
    frames += [np.full_like(frames[0], 40)] * 60
    root = tmp_path_factory.mktemp("frames")
    video = write_video(root / "clip.mp4", frames, 10.0, (640, 360))
    out = root / "out"
    run([str(video)], out, RunSettings(workers=2, segment_seconds=5.0, progress=False))
    sizes = sorted((len(list(d.glob("*.jpg"))), d.name) for d in (out / "clusters").iterdir())
    for (_, folder), name in zip(sorted(sizes, reverse=True), ("alice", "bob", "carol")):
        (out / "clusters" / folder).rename(out / "clusters" / name)
    return out


def _copy(out, tmp_path):
    dest = tmp_path / "out"
    shutil.copytree(out, dest, symlinks=True)
    # the copy's run.json still names the same video: frames exports decode it again
    return dest


def _labels(dest):
    """image stem -> [(class, x1 rounded)] of a YOLO frames export, and the class names."""
    names = yaml.safe_load((dest / "data.yaml").read_text())["names"]
    got = {}
    for img in dest.glob("images/*/*.jpg"):
        label = dest / "labels" / img.parent.name / f"{img.stem}.txt"
        rows = []
        for line in label.read_text().splitlines():
            c, xc, _, w, _ = line.split()
            rows.append((names[int(c)], round((float(xc) - float(w) / 2) * 640)))
        got[img.stem] = sorted(rows)
    return got, names


def _by_frame(out):
    by = defaultdict(list)
    for f in read_faces(out / "faces.jsonl"):
        by[f.frame_index].append(f)
    return by


def test_min_faces_keeps_every_face_labelled(named_run, tmp_path):
    out = _copy(named_run, tmp_path)
    counts = {d.name: len(list(d.glob("*.jpg"))) for d in (out / "clusters").iterdir()}
    threshold = max(counts.values())  # all but the largest are dropped
    dropped = sorted(n for n, c in counts.items() if c < threshold)
    res = export(out, tmp_path / "y", "yolo", 0.2, images="frames", min_faces=threshold)
    assert res.too_few_faces == dropped and len(dropped) >= 1
    assert not set(dropped) & set(res.classes)
    got, _ = _labels(tmp_path / "y")
    by = _by_frame(out)
    person = {p.stem: d.name for d in (out / "clusters").iterdir() for p in d.glob("*.jpg")}
    labelled = 0
    for stem, rows in got.items():
        if not rows:
            continue  # a background
        frame = int(stem.split("-")[-2])
        want = sorted(
            (person[f.id] if person.get(f.id, dropped[0]) not in dropped else "face", f.box[0])
            for f in by[frame]
        )
        assert [c for c, _ in rows] == [c for c, _ in want], stem  # every face, right class
        labelled += len(rows)
    assert labelled == sum(len(by[int(s.split("-")[-2])]) for s, r in got.items() if r)


def test_rejected_faces_get_no_box_and_backgrounds_join(named_run, tmp_path):
    out = _copy(named_run, tmp_path)
    gone = sorted((out / "clusters" / "bob").glob("*.jpg"))[0]
    gone.unlink()
    gone.with_suffix(".txt").unlink()  # rejected by deleting its crop
    res = export(out, tmp_path / "y", "yolo", 0.0, images="frames", backgrounds=0.1)
    got, _ = _labels(tmp_path / "y")
    assert res.rejected_dropped == 1
    frame = _by_frame(out)[int(gone.stem.split("-")[-2])]
    assert len(got[[s for s in got if s.split("-")[-2] == gone.stem.split("-")[-2]][0]]) == (
        len(frame) - 1
    )
    empty = [s for s, rows in got.items() if not rows]
    assert res.backgrounds == len(empty) == round(0.1 * (len(got) - len(empty)))
    card = json.loads((tmp_path / "y" / "dataset.json").read_text())
    assert card["backgrounds"] == len(empty) and card["rejected_dropped"] == 1
    assert "rejected are dropped" in (tmp_path / "y" / "README.md").read_text()


def test_small_faces_are_masked_not_left_unlabelled(named_run, tmp_path):
    out = _copy(named_run, tmp_path)
    widths = sorted(f.box[2] - f.box[0] for f in read_faces(out / "faces.jsonl"))
    cut = widths[len(widths) // 3]
    res = export(out, tmp_path / "y", "yolo", 0.0, images="frames", min_box=cut)
    small = sum(w < cut for w in widths)
    assert res.masked_small == small > 0
    got, _ = _labels(tmp_path / "y")
    assert sum(len(r) for r in got.values()) == len(widths) - small
    f = next(f for f in read_faces(out / "faces.jsonl") if f.box[2] - f.box[0] < cut)
    img = next((tmp_path / "y").glob(f"images/*/*-{f.frame_index:07d}-*.jpg"), None)
    if img is not None:  # its frame kept for another face: the small one is grey
        x1, y1, x2, y2 = f.box
        patch = cv2.imread(str(img))[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2]
        assert abs(float(patch.mean()) - 114) < 6


def test_a_backgrounds_shortfall_is_said_and_no_face_left_is_refused(named_run, tmp_path, caplog):
    out = _copy(named_run, tmp_path)
    with caplog.at_level("WARNING"):
        res = export(out, tmp_path / "y", "yolo", 0.0, images="frames", backgrounds=1.0)
    asked = len(_labels(tmp_path / "y")[0]) - res.backgrounds
    assert 0 < res.backgrounds < asked
    said = f"asked for {asked} face-free frames; the run sampled only {res.backgrounds}"
    assert said in caplog.text
    assert said in (tmp_path / "y" / "README.md").read_text()
    with pytest.raises(ClusterpipeError, match="no face is left to label"):
        export(out, tmp_path / "z", "yolo", 0.0, images="frames", min_box=10_000)
    assert not (tmp_path / "z").exists()


def test_a_box_outside_its_frame_is_refused_not_exported(named_run, tmp_path):
    from clusterpipe.store.files import write_faces

    out = _copy(named_run, tmp_path)
    faces = read_faces(out / "faces.jsonl")
    faces[0].box = (0, 0, 10**12, 10**12)  # faces.jsonl edited by hand, or damaged
    write_faces(out / "faces.jsonl", faces)
    for fmt in ("yolo", "coco"):
        with pytest.raises(ClusterpipeError, match=r"box .* is not inside its 640x360 frame"):
            export(out, tmp_path / fmt, fmt, 0.0, images="frames")
        assert not (tmp_path / fmt).exists()
