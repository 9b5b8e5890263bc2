"""Exports as their consumers load them, where a person, a crop or DEST is unusual."""

import json
import logging
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from clusterpipe.detect.boxes import portrait_box
from clusterpipe.errors import ClusterpipeError
from clusterpipe.export import export
from clusterpipe.store.atomic import DIR_MODE
from clusterpipe.store.layout import LOCK_FILE
from clusterpipe.store.lock import Lock

from ..fake_run import FRAME, make_run


def _image_folder_classes(root):
    """Class -> index as torchvision's ImageFolder numbers them: the sorted sub-folders."""
    return {c: k for k, c in enumerate(sorted(e.name for e in os.scandir(root) if e.is_dir()))}


def test_a_class_missing_from_val_keeps_its_index_there(tmp_path, caplog):
    out = tmp_path / "run"
    make_run(out, {"alice": 40, "bob": 3, "carol": 40})  # bob: one shot, train only
    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        export(out, tmp_path / "d", "imagefolder", 0.2)
    classes = (tmp_path / "d" / "classes.txt").read_text().split()
    listed = {c: k for k, c in enumerate(classes)}
    assert _image_folder_classes(tmp_path / "d" / "train") == listed
    assert _image_folder_classes(tmp_path / "d" / "val") == listed  # carol is 2, not 1
    assert "no images in val/bob" in caplog.text and "allow_empty=True" in caplog.text


def test_a_person_min_box_leaves_no_crop_of_is_left_out_and_none_left_is_refused(tmp_path, caplog):
    out = tmp_path / "run"
    faces = make_run(out, {"alice": 20, "bob": 20})
    bob = {f.id for f in faces["bob"]}
    records = (out / "faces.jsonl").read_text().splitlines()
    wide = []
    for line in records:  # alice's boxes twice as wide: 160 px against bob's 80
        r = json.loads(line)
        if r["id"] not in bob:
            r["box"] = [r["box"][0] - 40, r["box"][1], r["box"][2] + 40, r["box"][3]]
        wide.append(json.dumps(r))
    (out / "faces.jsonl").write_text("\n".join(wide) + "\n")
    for f in faces["alice"]:  # crops of the new boxes' size, or export leaves them out
        x1, y1, x2, y2 = portrait_box((f.box[0] - 40, f.box[1], f.box[2] + 40, f.box[3]), *FRAME)
        cv2.imwrite(str(out / "clusters/alice" / f"{f.id}.jpg"), np.zeros((y2 - y1, x2 - x1, 3)))
    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        res = export(out, tmp_path / "d", "imagefolder", 0.2, min_box=100)
    assert res.classes == ["alice"] and "left out, no crop left" in caplog.text
    assert (tmp_path / "d" / "classes.txt").read_text() == "alice\n"
    assert "bob" in (tmp_path / "d" / "README.md").read_text()  # the card says so too
    with pytest.raises(ClusterpipeError, match="no crop of a named person is left"):
        export(out, tmp_path / "e", "yolo", min_box=1000)
    assert not (tmp_path / "e").exists()


def test_a_crop_resaved_with_an_upper_case_suffix_is_exported(tmp_path):
    out = tmp_path / "run"
    faces = make_run(out, {"alice": 10})
    crop = out / "clusters" / "alice" / f"{faces['alice'][0].id}.jpg"
    crop.rename(crop.with_suffix(".JPG"))
    res = export(out, tmp_path / "d", "yolo", 0.0)
    assert res.images == {"train": 10}


def test_a_person_named_face_is_refused_in_a_frames_export(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"face": 5, "bob": 5})
    with pytest.raises(ClusterpipeError, match="named 'face'.*rename that folder"):
        export(out, tmp_path / "d", "yolo", images="frames")
    assert not (tmp_path / "d").exists()


def test_dest_is_made_as_any_folder_and_an_empty_one_keeps_its_mode(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"alice": 10})
    export(out, tmp_path / "new", "yolo", 0.0)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == DIR_MODE  # not mkdtemp's 0700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o2775)
    export(out, shared, "imagefolder", 0.0)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o2775
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    export(out, tmp_path / "link", "coco", 0.0)  # into the folder the link names
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / "annotations").is_dir()
    long = tmp_path / ("é" * 125)  # 250 bytes: a legal name, too long for the stage's
    export(out, long, "yolo", 0.0)
    assert (long / "data.yaml").is_file()


def test_coco_boxes_are_polygons_too_for_tools_that_ask_for_masks(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"alice": 5})
    export(out, tmp_path / "c", "coco", 0.0)
    data = json.loads((tmp_path / "c" / "annotations" / "instances_train.json").read_text())
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        xs, ys = a["segmentation"][0][0::2], a["segmentation"][0][1::2]
        assert (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)) == pytest.approx(
            (x, y, w, h), abs=0.02
        )


def test_a_crop_copied_into_two_named_folders_is_exported_once_and_said(tmp_path, caplog):
    import shutil

    out = tmp_path / "run"
    faces = make_run(out, {"alice": 10, "bob": 10})
    fid = faces["alice"][0].id
    shutil.copy(out / "clusters/alice" / f"{fid}.jpg", out / "clusters/bob" / f"{fid}.jpg")
    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        res = export(out, tmp_path / "d", "yolo", 0.0)
    assert res.images == {"train": 20}
    assert f"face {fid} is in two folders (copied, not moved); exported once" in caplog.text


def test_a_stage_a_killed_export_left_is_removed_by_the_next_and_no_other(tmp_path, caplog):
    out, dest = tmp_path / "run", tmp_path / "d"
    make_run(out, {"alice": 10, "bob": 10})
    kill = (
        "import os, signal, sys\nfrom pathlib import Path\n"
        "from clusterpipe.export.stage import staged\n"
        "with staged(Path(sys.argv[1])) as s:\n"
        "    (s / 'images').mkdir()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", kill, str(dest)], check=False)
    (stale,) = (p for p in tmp_path.iterdir() if p.name.startswith(".d."))
    assert (stale / "images").is_dir()  # kill -9 leaves it
    subprocess.run([sys.executable, "-c", kill, str(dest)], check=False)
    (stale,) = (p for p in tmp_path.iterdir() if p.name.startswith(".d."))  # the first swept
    running = Path(tempfile.mkdtemp(prefix=".d.", suffix=".tmp", dir=tmp_path))
    mine = tmp_path / ".d.abcdefgh.tmp"  # the user's own, named like a stage, with no lock
    mine.mkdir()
    with Lock(running), caplog.at_level(logging.INFO, logger="clusterpipe"):
        export(out, dest, "imagefolder", 0.2)  # while another export still writes `running`
    assert not stale.exists() and "left by an export that was stopped" in caplog.text
    assert running.is_dir() and mine.is_dir()
    assert (dest / "classes.txt").is_file() and not (dest / LOCK_FILE).exists()
