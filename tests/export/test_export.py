"""Each dataset format checked against its specification."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from clusterpipe.errors import ClusterpipeError, StoreError
from clusterpipe.export import BLOCK_SECONDS, collect, export, split_items
from clusterpipe.export.split import GAP_SECONDS

from ..fake_run import make_run

# torchvision.datasets.folder.IMG_EXTENSIONS
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"alice": 40, "bob": 40, "carol": 25, "Face_3": 5})
    return out


def check_yolo(dest: Path) -> dict:
    """Validate an Ultralytics detection dataset; return label counts per split."""
    data = yaml.safe_load((dest / "data.yaml").read_text())
    # No `path`: Ultralytics resolves train/val beside data.yaml (a moved dataset still works).
    assert "path" not in data
    names = data["names"]
    assert data["nc"] == len(names) and list(names) == list(range(len(names)))
    counts = {}
    for split in ("train", "val"):
        images = sorted((dest / data[split]).iterdir())
        assert images
        for img in images:
            label = dest / "labels" / split / f"{img.stem}.txt"  # Ultralytics' img2label_paths
            lines = label.read_text().splitlines()
            assert lines
            for line in lines:
                cls, *vals = line.split()
                assert int(cls) in names and len(vals) == 4
                xc, yc, w, h = map(float, vals)
                assert 0 < w <= 1 and 0 < h <= 1
                assert 0 <= xc - w / 2 + 1e-6 and xc + w / 2 <= 1 + 1e-6
                assert 0 <= yc - h / 2 + 1e-6 and yc + h / 2 <= 1 + 1e-6
        counts[split] = len(images)
    return counts


def check_imagefolder(root: Path, classes: list[str]) -> int:
    """torchvision ImageFolder: class folders sorted, every class with >= 1 valid image."""
    found = sorted(e.name for e in root.iterdir() if e.is_dir())
    assert found == classes
    n = 0
    for c in found:
        files = [f for f in (root / c).iterdir() if f.suffix.lower() in IMG_EXTENSIONS]
        assert files
        for f in files:
            assert cv2.imread(str(f)) is not None
        n += len(files)
    return n


def check_coco(dest: Path, split: str) -> dict:
    data = json.loads((dest / "annotations" / f"instances_{split}.json").read_text())
    cats = {c["id"] for c in data["categories"]}
    images = {im["id"]: im for im in data["images"]}
    assert len(images) == len(data["images"])
    for im in images.values():
        img = cv2.imread(str(dest / "images" / split / im["file_name"]))
        assert img.shape[:2] == (im["height"], im["width"])
    ids = set()
    for a in data["annotations"]:
        assert a["id"] not in ids
        ids.add(a["id"])
        assert a["category_id"] in cats and a["image_id"] in images and a["iscrowd"] == 0
        x, y, w, h = a["bbox"]
        im = images[a["image_id"]]
        assert 0 <= x and 0 <= y and w > 0 and h > 0
        assert x + w <= im["width"] + 0.01 and y + h <= im["height"] + 0.01
        assert a["area"] == pytest.approx(w * h, rel=1e-3)
    return data


def test_yolo_export(run_dir, tmp_path):
    res = export(run_dir, tmp_path / "y", "yolo", 0.2, seed=1)
    assert res.classes == ["alice", "bob", "carol"]  # Face_3 is unnamed: left out
    counts = check_yolo(tmp_path / "y")
    assert sum(counts.values()) == 105 - res.dropped_near_train
    moved = tmp_path / "elsewhere" / "y"  # a moved dataset still resolves
    moved.parent.mkdir()
    (tmp_path / "y").rename(moved)
    assert check_yolo(moved) == counts


def test_imagefolder_export(run_dir, tmp_path):
    res = export(run_dir, tmp_path / "i", "imagefolder", 0.2)
    classes = ["alice", "bob", "carol"]
    n = sum(check_imagefolder(tmp_path / "i" / s, classes) for s in ("train", "val"))
    assert n == 105 - res.dropped_near_train
    assert (tmp_path / "i" / "classes.txt").read_text().split("\n")[:3] == classes
    export(run_dir, tmp_path / "one", "imagefolder", 0.0)  # one split: the same layout
    assert check_imagefolder(tmp_path / "one" / "train", classes) == 105


def test_coco_export(run_dir, tmp_path):
    res = export(run_dir, tmp_path / "c", "coco", 0.2)
    train, val = check_coco(tmp_path / "c", "train"), check_coco(tmp_path / "c", "val")
    assert len(train["images"]) + len(val["images"]) == 105 - res.dropped_near_train
    assert [c["name"] for c in train["categories"]] == ["alice", "bob", "carol"]
    ids = [im["id"] for im in train["images"] + val["images"]]
    assert len(ids) == len(set(ids))  # unique across splits


def test_split_keeps_everyone_on_both_sides_over_many_seeds(run_dir):
    items, _ = collect(run_dir)
    for seed in range(200):
        split, report = split_items(items, 0.2, seed)
        assert [i.split for i in split] == [i.split for i in split_items(items, 0.2, seed)[0]]
        for cls in range(3):
            assert {i.split for i in split if i.labels[0][0] == cls} == {"train", "val"}, seed
        blocks: dict[tuple, set] = {}
        for i in split:
            blocks.setdefault((i.face.video, int(i.face.time_s // BLOCK_SECONDS)), set()).add(
                i.split
            )
        assert all(len(v) == 1 for v in blocks.values())  # no block straddles the split
        train = [(i.labels[0][0], i.face.time_s) for i in split if i.split == "train"]
        for i in split:  # no val face within the gap of a train face of the same person
            if i.split == "val":
                assert all(
                    abs(t - i.face.time_s) >= GAP_SECONDS for c, t in train if c == i.labels[0][0]
                )
        assert abs(report.val_fraction - 0.2) <= 0.1, (seed, report.val_fraction)


def test_split_by_shots_where_the_run_knows_them(run_dir):
    items, _ = collect(run_dir)
    starts = {items[0].face.video: [100, 200, 300, 400, 600, 800]}  # frame indices of cuts
    split, report = split_items(items, 0.3, 5, starts)
    shots: dict[int, set] = {}
    for i in split:
        shot = sum(1 for f in starts[i.face.video] if f <= i.face.frame_index)
        shots.setdefault(shot, set()).add(i.split)
    assert all(len(v) == 1 for v in shots.values()) and report.dropped_near == 0
    assert {i.split for i in split} == {"train", "val"}


def test_a_person_seen_in_one_shot_is_in_train_and_reported(tmp_path):
    out = tmp_path / "run"
    make_run(out, {"alice": 40, "bob": 3})  # bob: 3 s, one block
    res = export(out, tmp_path / "d", "imagefolder", 0.2)
    assert res.train_only == ["bob"]
    assert (tmp_path / "d" / "train" / "bob").is_dir()
    assert list((tmp_path / "d" / "val" / "bob").iterdir()) == []  # kept: indices agree
    res = export(out, tmp_path / "e", "imagefolder", 0.2, min_faces=5)
    assert res.classes == ["alice"] and res.too_few_faces == ["bob"]


def test_export_refuses_non_empty_dest_and_unnamed_runs(run_dir, tmp_path):
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        export(run_dir, dest, "yolo")
    assert (dest / "keep.txt").read_text() == "mine"
    bare = tmp_path / "bare"
    make_run(bare, {"Face_0": 3})
    with pytest.raises(ClusterpipeError, match="no named folders"):
        export(bare, tmp_path / "x", "coco")


@pytest.mark.parametrize("inside", ["clusters/dataset", "clusters/alice/d", "noise/d"])
def test_export_refuses_a_dest_in_the_runs_own_folders(run_dir, inside):
    before = sorted(run_dir.rglob("*"))
    with pytest.raises(ClusterpipeError, match="cannot live in the run's own folders"):
        export(run_dir, run_dir / inside, "yolo")
    assert sorted(run_dir.rglob("*")) == before


def test_export_from_a_mistyped_run_makes_nothing(tmp_path):
    with pytest.raises(ClusterpipeError, match="no run.json"):
        export(tmp_path / "typo", tmp_path / "new" / "deep" / "ds", "yolo")
    assert list(tmp_path.iterdir()) == []


def test_export_never_touches_a_sibling_named_like_its_temp_folder(run_dir, tmp_path):
    mine = tmp_path / ".ds.tmp"  # the user's own folder, named as the old temp folder was
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    export(run_dir, tmp_path / "ds", "imagefolder", 0.2)
    assert (mine / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".ds.tmp"]


def test_aligned_chips_put_the_eyes_where_the_template_says(data_dir, tmp_path):
    from clusterpipe.detect.boxes import portrait_box
    from clusterpipe.detect.mtcnn import Mtcnn
    from clusterpipe.export.aligned import CHIP, TEMPLATE
    from clusterpipe.export.base import Item
    from clusterpipe.export.imagefolder import _chip
    from clusterpipe.store.records import Face

    bgr = cv2.imread(str(data_dir / "dev" / "group_photos" / "two_people.jpg"))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    mtcnn = Mtcnn()
    det = mtcnn.detect(rgb)
    h, w = bgr.shape[:2]
    for box, marks in zip(det.boxes, det.landmarks):
        box = tuple(int(v) for v in box)
        x1, y1, x2, y2 = portrait_box(box, w, h)
        path = tmp_path / f"crop{x1}.jpg"
        cv2.imwrite(str(path), bgr[y1:y2, x1:x2])
        face = Face("v-0000000-0", "v", 0, 0.0, box, [0.0] * 128, landmarks=marks.tolist())
        chip = _chip(Item(path, face, (x2 - x1, y2 - y1), ((0, 0, 0, 1, 1),), origin=(x1, y1)))
        assert chip.shape == (CHIP, CHIP, 3)
        again = mtcnn.detect(cv2.cvtColor(chip, cv2.COLOR_BGR2RGB))
        assert len(again.landmarks) >= 1
        found = again.landmarks[int(again.scores.argmax())]
        assert np.abs(found[:2] - TEMPLATE[:2]).max() < 4  # the eyes, in chip pixels
        assert np.abs(found - TEMPLATE).max() < 8


def test_aligned_export_is_an_imagefolder_of_112_px_chips(data_dir, tmp_path):
    out = tmp_path / "run"
    make_run(out, {"alice": 12})
    with pytest.raises(ClusterpipeError, match="--images aligned is not available for --format"):
        export(out, tmp_path / "y", "yolo", images="aligned")


def _unit_items(spec):
    """Items of one class per shot: spec is (class, shots, images per shot); and the cuts."""
    from clusterpipe.export.base import Item
    from clusterpipe.store.records import Face

    items, cuts, k = [], [], 0
    for c, shots, per in spec:
        for _ in range(shots):
            cuts.append(k)
            for _ in range(per):
                f = Face(f"v-{k:07d}-0", "v", k, float(k), (0, 0, 9, 9), [0.0] * 128)
                items.append(Item(Path("x.jpg"), f, (9, 9), ((c, 0, 0, 9, 9),)))
                k += 1
    return items, {"v": cuts[1:]}


def test_split_balances_each_person_within_their_shots():
    # alice: one single-image shot and nine of three; bob: thirty single-image shots. A random
    # fill gave alice 1 of 28 images in val on some seeds.
    items, cuts = _unit_items([(0, 1, 1), (0, 9, 3), (1, 30, 1)])
    for seed in range(30):
        _, report = split_items(items, 0.2, seed, cuts)
        assert all(0.15 <= s <= 0.3 for s in report.class_val_share.values()), (seed, report)


def test_near_duplicates_join_their_shots_on_one_side():
    items, cuts = _unit_items([(0, 10, 2), (1, 10, 2)])
    links = [(0, 18), (1, 19), (20, 38)]  # the same source seen again in another shot
    for seed in range(30):
        split, report = split_items(items, 0.3, seed, cuts, links)
        side = [i.split for i in split]
        assert all(side[a] == side[b] for a, b in links), seed
        assert report.units == 20 - 2


def test_single_class_needs_frames_and_the_summary_counts_people(run_dir, tmp_path):
    with pytest.raises(ClusterpipeError, match="--single-class.*--images frames"):
        export(run_dir, tmp_path / "x", "yolo", single_class=True)
    from click.testing import CliRunner

    from clusterpipe.cli import cli

    result = CliRunner().invoke(
        cli, ["export", str(run_dir), str(tmp_path / "y"), "--format", "yolo"]
    )
    assert result.exit_code == 0, result.output
    assert "3 people, images" in result.output and "near-duplicate pairs" in result.output


def test_every_export_has_a_card_and_the_files_tools_look_for(run_dir, tmp_path):
    res = export(run_dir, tmp_path / "y", "yolo", 0.2, seed=3)
    card = json.loads((tmp_path / "y" / "dataset.json").read_text())
    assert card["run_id"] == "run1" and card["options"]["seed"] == 3
    assert card["classes"] == res.classes == ["alice", "bob", "carol"]
    lines = sum(len(p.read_text().splitlines()) for p in (tmp_path / "y").glob("labels/*/*.txt"))
    assert sum(card["counts"]["train"].values()) + sum(card["counts"]["val"].values()) == lines
    assert card["crossing_pairs"] == 0 and "box_convention" in card
    readme = (tmp_path / "y" / "README.md").read_text()
    assert "1.3x as tall" in readme and "missed are not labelled" in readme
    assert (tmp_path / "y" / "classes.txt").read_text() == "alice\nbob\ncarol\n"
    export(run_dir, tmp_path / "c", "coco", 0.0)
    coco = json.loads((tmp_path / "c" / "annotations" / "instances_train.json").read_text())
    assert coco["info"]["year"] >= 2026 and coco["licenses"][0]["id"] == 1
    assert all(im["license"] == 1 for im in coco["images"])
    assert (tmp_path / "c" / "README.md").is_file()
