import json
import shutil

import numpy as np
import pytest

from clusterpipe import gallery as gallery_mod
from clusterpipe.errors import ClusterpipeError
from clusterpipe.gallery import Gallery, GalleryError, build_index
from clusterpipe.people import list_people, promote, remove_person

from .fake_run import make_run


@pytest.fixture
def run_a(tmp_path):
    out = tmp_path / "a"
    faces = make_run(out, {"alice": 4, "bob": 3, "Face_2": 2}, run_id="a")
    return out, faces


def test_promote_is_idempotent(run_a, tmp_path):
    out, _ = run_a
    g = tmp_path / "g"
    first = promote(out, g)
    assert first.added == {"alice": 4, "bob": 3} and first.total == 7  # Face_2 is unnamed
    again = promote(out, g)
    assert again.added == {} and again.removed == {} and again.total == 7
    assert list_people(g) == {"alice": 4, "bob": 3}
    assert len(list(g.glob("index-*.faiss"))) == 1
    assert not list(g.glob("*.tmp"))


def test_promote_follows_corrections(run_a, tmp_path):
    out, faces = run_a
    g = tmp_path / "g"
    promote(out, g)
    moved = faces["alice"][0].id
    shutil.move(out / "clusters" / "alice" / f"{moved}.jpg", out / "clusters" / "bob")
    (out / "clusters" / "alice" / f"{faces['alice'][1].id}.jpg").unlink()
    res = promote(out, g)
    assert res.added == {"bob": 1} and res.removed == {"alice": 2}
    assert list_people(g) == {"bob": 4, "alice": 2}
    (out / "clusters" / "bob").rename(out / "clusters" / "robert")
    promote(out, g)
    assert list_people(g) == {"robert": 4, "alice": 2}
    entry = next(e for e in Gallery.open(g).entries if e["face_id"] == moved)
    assert entry["name"] == "robert" and entry["run"] == "a" and entry["video"]


def test_several_runs_feed_one_gallery_and_remove(run_a, tmp_path):
    out, _ = run_a
    b = tmp_path / "b"
    make_run(b, {"alice": 2, "carol": 3}, run_id="b", seed=5)
    g = tmp_path / "g"
    promote(out, g)
    promote(b, g)
    assert list_people(g) == {"alice": 6, "bob": 3, "carol": 3}
    assert remove_person(g, "alice") == 6
    assert list_people(g) == {"bob": 3, "carol": 3}
    with pytest.raises(ClusterpipeError, match="not in the gallery"):
        remove_person(g, "alice")


def test_identify_names_and_unknowns(run_a, tmp_path):
    out, faces = run_a
    g = tmp_path / "g"
    promote(out, g)
    gal = Gallery.open(g)
    alice = np.array(faces["alice"][0].encoding)
    far = -alice
    m = gal.identify(np.vstack([alice + 0.001, far]), threshold=0.5)
    assert m[0].name == "alice" and m[0].distance < 0.05
    assert m[1].name == "unknown" and m[1].nearest in ("alice", "bob")


def test_bad_folder_names_block_promote(run_a, tmp_path):
    out, _ = run_a
    (out / "clusters" / "bob").rename(out / "clusters" / "bob:2")
    with pytest.raises(ClusterpipeError, match="rename folder 'bob:2' first"):
        promote(out, tmp_path / "g")
    assert not (tmp_path / "g" / "gallery.json").exists()


@pytest.mark.parametrize(
    "damage",
    [
        "flip_index",
        "truncate_index",
        "truncate_sidecar",
        "bad_name",
        "missing_index",
        "garbage_index",
    ],
)
def test_damaged_or_tampered_gallery_is_a_clear_error(run_a, tmp_path, damage):
    out, _ = run_a
    g = tmp_path / "g"
    promote(out, g)
    index = next(g.glob("index-*.faiss"))
    sidecar = g / "gallery.json"
    if damage == "flip_index":
        data = bytearray(index.read_bytes())
        data[len(data) // 2] ^= 0xFF
        index.write_bytes(bytes(data))
    elif damage == "truncate_index":
        index.write_bytes(index.read_bytes()[:50])
    elif damage == "truncate_sidecar":
        sidecar.write_text(sidecar.read_text()[:80])
    elif damage == "bad_name":
        d = json.loads(sidecar.read_text())
        d["entries"][0]["name"] = "../../etc"
        sidecar.write_text(json.dumps(d))
    elif damage == "missing_index":
        index.unlink()
    elif damage == "garbage_index":
        index.write_bytes(b"not faiss at all")
        d = json.loads(sidecar.read_text())
        import hashlib

        d["index_sha256"] = hashlib.sha256(b"not faiss at all").hexdigest()
        sidecar.write_text(json.dumps(d))
    with pytest.raises(GalleryError):
        Gallery.open(g)


def test_missing_gallery_says_how_to_make_one(tmp_path):
    with pytest.raises(GalleryError, match="clusterpipe promote"):
        Gallery.open(tmp_path / "nothing")


def test_large_galleries_use_hnsw_with_high_recall(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 128)).astype(np.float32)
    monkeypatch.setattr(gallery_mod, "HNSW_MIN", 1000)
    index = build_index(x)
    assert type(index).__name__ == "IndexHNSWFlat"
    q = x[:200] + rng.normal(scale=0.01, size=(200, 128)).astype(np.float32)
    _, idx = index.search(q, 1)
    assert (idx[:, 0] == np.arange(200)).mean() >= 0.98


def test_identify_takes_gifs_extensionless_images_and_refuses_huge_ones(run_a, tmp_path, data_dir):
    from PIL import Image

    from clusterpipe.errors import InputError
    from clusterpipe.people import identify

    out, _ = run_a
    g = tmp_path / "g"
    promote(out, g)
    photo = Image.open(data_dir / "dev" / "group_photos" / "two_people.jpg")
    photo.save(tmp_path / "two.gif")
    photo.save(tmp_path / "two_no_suffix", format="PNG")
    for name in ("two.gif", "two_no_suffix"):
        rows = list(identify([tmp_path / name], g))
        assert len(rows) == 2 and {r["time_s"] for r in rows} == {None}, name
    Image.new("L", (12000, 9000)).save(tmp_path / "huge.png")  # 108 M pixels
    with pytest.raises(InputError, match="over the limit"):
        list(identify([tmp_path / "huge.png"], g))


def test_identify_json_is_valid_json_with_an_empty_gallery(tmp_path, data_dir):
    from click.testing import CliRunner

    from clusterpipe.cli import cli

    g = tmp_path / "g"
    Gallery.open(g, create=True).save()
    photo = data_dir / "dev" / "group_photos" / "two_people.jpg"
    result = CliRunner().invoke(cli, ["identify", str(photo), "--gallery", str(g), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 2 and all(r["distance"] is None and r["name"] == "unknown" for r in rows)
    assert "Infinity" not in result.output


def test_promote_warns_about_copies_and_crops_of_another_run(run_a, tmp_path, caplog):
    out, _ = run_a
    alice = sorted((out / "clusters" / "alice").glob("*.jpg"))
    (out / "clusters" / "bob" / alice[0].name).write_bytes(alice[0].read_bytes())  # a copy
    stranger = out / "clusters" / "bob" / "other_clip-1a2b3c4d-0000420-0.jpg"  # another run's
    stranger.write_bytes(alice[1].read_bytes())
    with caplog.at_level("WARNING", logger="clusterpipe"):
        res = promote(out, tmp_path / "g")
    text = caplog.text
    assert f"face {alice[0].stem} is in two folders" in text
    assert f"{stranger.name} is not a face of this run" in text
    assert res.added == {"alice": 4, "bob": 3}  # each face once, the stranger left out
