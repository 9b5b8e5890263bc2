import json
import shutil

import numpy as np
import pytest

from clusterpipe.errors import ClusterpipeError
from clusterpipe.gallery.promote import list_people, promote, remove_person
from clusterpipe.gallery.store import Gallery, GalleryError

from ..fake_run import make_run


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


@pytest.mark.parametrize(
    "inside",
    [".", "clusters", "clusters/alice", "clusters/new/g", "noise/g", "shards", "montages/g"],
)
def test_a_gallery_inside_the_runs_own_folders_is_refused(run_a, inside):
    out, _ = run_a
    before = sorted(out.rglob("*"))
    with pytest.raises(ClusterpipeError, match="cannot live in the run's own folders"):
        promote(out, out / inside)
    assert sorted(out.rglob("*")) == before


def test_promote_removes_only_its_own_files_and_a_killed_saves_temp(run_a, tmp_path):
    out, _ = run_a
    g = tmp_path / "g"
    g.mkdir()
    mine = ["vectors-experiment1.npy", "index-backup.faiss", "index-0123456789ab.faiss.bak"]
    for name in mine:
        (g / name).write_bytes(b"the user's")
    stale = g / ".vectors.ab12cd_9.tmp"  # what a save killed with kill -9 leaves
    stale.write_bytes(b"x" * 1000)
    promote(out, g)
    assert not stale.exists()
    (old,) = g.glob("index-????????????.faiss")
    remove_person(g, "bob")
    assert not old.exists() and len(list(g.glob("index-????????????.faiss"))) == 1
    assert all((g / name).read_bytes() == b"the user's" for name in mine)


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


def test_a_run_without_names_creates_no_gallery_but_syncs_an_existing_one(run_a, tmp_path):
    out, _ = run_a
    g = tmp_path / "g"
    promote(out, g)
    for k, name in enumerate(("alice", "bob")):
        (out / "clusters" / name).rename(out / "clusters" / f"Face_{7 + k}")
    new = tmp_path / "new"
    with pytest.raises(ClusterpipeError, match="no named folders to promote"):
        promote(out, new)
    assert not new.exists()  # not even a lock file left behind
    res = promote(out, g)  # the run's names were taken back: so are its faces
    assert res.removed == {"alice": 4, "bob": 3} and res.total == 0


def test_a_failed_first_save_leaves_no_folder_and_an_old_gallery_intact(
    run_a, tmp_path, monkeypatch
):
    import clusterpipe.gallery.store as store

    out, _ = run_a
    real = store.save_npy

    def disk_full(array):
        def write(path):
            real(array)(path)
            raise OSError(28, "No space left on device")

        return write

    monkeypatch.setattr(store, "save_npy", disk_full)  # after the index file is written
    new = tmp_path / "made" / "g"
    with pytest.raises(GalleryError, match="No space left"):
        promote(out, new)
    assert not (tmp_path / "made").exists()  # the folders it made for the gallery too
    monkeypatch.undo()
    old = tmp_path / "old"
    promote(out, old)
    before = sorted(p.name for p in old.iterdir())
    monkeypatch.setattr(store, "save_npy", disk_full)
    (out / "clusters" / "Face_2").rename(out / "clusters" / "carol")
    with pytest.raises(GalleryError):
        promote(out, old)
    assert sorted(p.name for p in old.iterdir()) == before
    assert list_people(old) == {"alice": 4, "bob": 3}


def test_a_failed_promote_leaves_a_folder_reached_through_dotdot_alone(
    run_a, tmp_path, monkeypatch
):
    import clusterpipe.gallery.store as store

    out, _ = run_a
    mine = tmp_path / "g"
    mine.mkdir()
    (mine / "index-mybackup.faiss").write_text("the user's")
    monkeypatch.setattr(store, "save_npy", lambda array: _raise_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        promote(out, tmp_path / "typo" / ".." / "g")
    assert (mine / "index-mybackup.faiss").read_text() == "the user's"
    assert not (tmp_path / "typo").exists()  # the folder it made on the way is gone


def _raise_ctrl_c(path):
    raise KeyboardInterrupt


def test_a_save_interrupted_after_its_sidecar_is_written_is_a_gallery(run_a, tmp_path, monkeypatch):
    import clusterpipe.gallery.store as store

    out, _ = run_a
    real = store.write_json

    def then_ctrl_c(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "write_json", then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        promote(out, tmp_path / "g")
    monkeypatch.undo()
    assert list_people(tmp_path / "g") == {"alice": 4, "bob": 3}


def test_removing_an_empty_name_is_an_error_not_a_listing(run_a, tmp_path):
    from click.testing import CliRunner

    from clusterpipe.cli import cli

    out, _ = run_a
    g = tmp_path / "g"
    promote(out, g)
    r = CliRunner().invoke(cli, ["gallery", str(g), "--remove", ""])
    assert r.exit_code == 2 and "cannot be empty" in r.stderr
    assert list_people(g) == {"alice": 4, "bob": 3}


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
    with pytest.raises(ClusterpipeError, match="folder 'bob:2': name 'bob:2' has"):
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


@pytest.mark.parametrize("side", [12_000, 20_000])
def test_an_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path, side):
    """20000x20000 is past Pillow's own bomb error: the size is still read and reported."""
    import struct
    import zlib

    from clusterpipe.errors import InputError
    from clusterpipe.gallery.identify import _read_image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    path = tmp_path / "huge.png"  # a header and almost no pixels: nothing may decode them
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IDAT", zlib.compress(b"\0" * 64)))
    with pytest.raises(InputError, match=f"{side}x{side} pixels is over the limit"):
        _read_image(path)


def test_identify_against_an_empty_gallery_says_so(run_a, tmp_path, data_dir):
    from click.testing import CliRunner

    from clusterpipe.cli import cli

    out, _ = run_a
    g = tmp_path / "g"
    promote(out, g)
    remove_person(g, "alice")
    remove_person(g, "bob")
    photo = next((data_dir / "dev" / "photos" / "fr_obama").glob("*.jpg"))
    text = CliRunner().invoke(cli, ["identify", str(photo), "--gallery", str(g)])
    assert text.exit_code == 0 and "unknown (the gallery is empty)" in text.output
    assert "inf" not in text.output
    got = CliRunner().invoke(cli, ["identify", str(photo), "--gallery", str(g), "--json"])
    rec = json.loads(got.output.splitlines()[0])
    assert rec["nearest"] is None and rec["distance"] is None


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_a_damaged_index_is_rebuilt_from_the_exact_vectors_by_the_next_promote(
    run_a, tmp_path, damage
):
    out, _ = run_a
    g = tmp_path / "g"
    promote(out, g)
    index = next(g.glob("index-*.faiss"))
    if damage == "missing":
        index.unlink()
    else:
        index.write_bytes(index.read_bytes()[:50] if damage == "truncated" else b"garbage")
    with pytest.raises(GalleryError, match="promote a run into the gallery again"):
        Gallery.open(g)
    res = promote(out, g)  # nothing changed in the run: only the index is made again
    assert res.added == {} and res.removed == {}
    assert list_people(g) == {"alice": 4, "bob": 3}
    assert len(list(g.glob("index-*.faiss"))) == 1


def test_tampered_vectors_are_blamed_on_the_gallery_not_the_run(run_a, tmp_path):
    from clusterpipe.models import file_sha256

    out, _ = run_a
    g = tmp_path / "g"
    promote(out, g)
    meta = json.loads((g / "gallery.json").read_text())
    path = g / meta["vectors_file"]
    v = np.load(path)
    v[0, 0] = np.nan
    path.unlink()
    np.save(path, v)
    meta["vectors_sha256"] = file_sha256(path)  # its checksum made to match
    (g / "gallery.json").write_text(json.dumps(meta))
    (out / "clusters" / "bob").rename(out / "clusters" / "bobby")
    with pytest.raises(GalleryError, match="the gallery's vectors hold values no encoder gives"):
        promote(out, g)


def test_a_name_differing_only_by_case_is_warned_of(run_a, tmp_path, caplog):
    out, _ = run_a
    g = tmp_path / "g"
    promote(out, g)
    other = tmp_path / "b"
    make_run(other, {"Alice": 3}, run_id="b")
    with caplog.at_level("WARNING", logger="clusterpipe"):
        promote(other, g)
    assert "'alice' and 'Alice' differ only by case" in caplog.text
    assert list_people(g) == {"Alice": 3, "alice": 4, "bob": 3}
