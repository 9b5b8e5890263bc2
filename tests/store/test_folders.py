import os
import unicodedata

import pytest

from clusterpipe.people.status import status
from clusterpipe.store.folders import BadNameError, check_name, scan

from ..fake_run import make_run


@pytest.mark.parametrize("name", ["alice", "Zoë Müller", "O'Brien", "jean-luc", "a_b 2", "李雷"])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name, why",
    [
        ("a/b", "/"),
        ("..", "dot"),
        (".hidden", "dot"),
        ("a\x00b", "NUL"),
        ("x" * 101, "at most 100"),
        ("", "empty"),
        (" alice", "leading"),
        ("bad:name", "characters"),
        ("a\\b", "\\\\"),
        ("Thumbs.db", "tools give their own files"),  # every listing skips it: faces would vanish
        ("desktop.ini", "tools give their own files"),
        ("__MACOSX", "start with a letter"),
    ],
)
def test_bad_names_are_refused_with_a_reason(name, why):
    with pytest.raises(BadNameError, match=why):
        check_name(name)


def test_scan_maps_files_and_reports_oddities(tmp_path):
    out = tmp_path / "out"
    make_run(out, {"alice": 3, "Face_1": 2})
    (out / "clusters" / "alice" / "stray.jpg").write_bytes(b"x")
    (out / "clusters" / ".sneaky").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "vid-0000000-0.jpg").write_bytes(b"x")
    os.symlink(outside, out / "clusters" / "link")
    ids = {line.split('"')[3] for line in (out / "faces.jsonl").read_text().splitlines()}
    tree = scan(out, ids)
    assert [f.name for f in tree.named] == ["alice"]
    assert len(tree.named[0].face_ids) == 3
    assert tree.unmapped == ["clusters/alice/stray.jpg"]
    assert ".sneaky" not in tree.bad_names  # hidden folders are tools', ignored
    assert ".sneaky" not in [f.name for f in tree.folders]
    assert tree.skipped_links == ["clusters/link"]


@pytest.mark.parametrize("name", ["Thumbs.db", "@eaDir", ".alice"])
def test_a_folder_renamed_to_a_name_listings_skip_is_flagged_not_lost(tmp_path, name):
    out = tmp_path / "out"
    make_run(out, {"alice": 3, "Face_1": 2})
    (out / "clusters" / "alice").rename(out / "clusters" / name)
    st = status([out])
    assert any(name in p and "rename the folder" in p for p in st.problems), st.problems


def test_status_flags_copies_and_names_in_two_runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    make_run(a, {"alice": 2, "bob": 2}, run_id="a")
    make_run(b, {"alice": 2}, run_id="b", seed=1)
    crop = next((a / "clusters" / "alice").glob("*.jpg"))
    (a / "clusters" / "bob" / crop.name).write_bytes(crop.read_bytes())  # copied, not moved
    st = status([a, b, a])  # the same run twice counts once
    assert st.shared_names["alice"] == sorted([str(a), str(b)])
    assert any("two folders" in p for p in st.problems)


def test_status_says_names_of_two_runs_differing_by_case_are_two_people(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    make_run(a, {"alice": 2}, run_id="a")
    make_run(b, {"Alice": 2}, run_id="b", seed=1)
    st = status([a, b])
    assert not st.shared_names  # promote does not merge them
    assert any("differ only by case: two people for promote" in p for p in st.problems)


@pytest.mark.parametrize(
    "name",
    [
        "José",  # NFC
        "Jose\u0301",  # NFD, as macOS writes it
        "देवनागरी नाम",  # Devanagari with combining vowel signs
        "Zoë O'Brien-Smith",
        "李" * 60,  # 180 bytes
    ],
)
def test_names_of_any_script_with_their_marks(name):
    assert check_name(name) == unicodedata.normalize("NFC", name)


def test_names_are_limited_by_bytes_not_only_characters():
    with pytest.raises(BadNameError, match="200 bytes"):
        check_name("李" * 84)  # 84 characters, 252 bytes: no room for ".jpg" in a file name


def test_tool_folders_and_files_are_ignored(tmp_path):
    clusters = tmp_path / "clusters"
    for d in ("alice", ".ipynb_checkpoints", "__MACOSX", "Face_0"):
        (clusters / d).mkdir(parents=True)
    (clusters / ".DS_Store").write_bytes(b"\0")
    (clusters / "alice" / ".DS_Store").write_bytes(b"\0")
    (clusters / "alice" / "v-0000001-0.jpg").write_bytes(b"x")
    tree = scan(tmp_path, {"v-0000001-0"})
    assert [f.name for f in tree.folders] == ["Face_0", "alice"]
    assert not tree.bad_names and not tree.unmapped


def test_a_decomposed_folder_name_is_the_same_person(tmp_path):
    (tmp_path / "clusters" / "Jose\u0301").mkdir(parents=True)
    (tmp_path / "clusters" / "Jose\u0301" / "v-0000001-0.jpg").write_bytes(b"x")
    (folder,) = scan(tmp_path, {"v-0000001-0"}).named
    assert folder.name == "Jose\u0301" and folder.person == "José"


def test_status_says_when_two_folders_differ_only_by_case(tmp_path):
    out = tmp_path / "a"
    make_run(out, {"alice": 2, "bob": 2})
    (out / "clusters" / "bob").rename(out / "clusters" / "Alice")
    st = status([out])
    assert not st.shared_names  # one run: not "named in 2 runs"
    assert any("'Alice' and 'alice' differ only by case" in p for p in st.problems)


def test_a_folder_listed_once_is_reused_only_while_it_is_unchanged(tmp_path):
    """scan's cache: a settled folder is not listed again, but a crop moved in or out (which
    changes the folder's mtime) is seen at once; a folder changed within a second of its
    listing is listed again (its mtime may not have moved)."""
    import os
    import time

    from clusterpipe.store import folders

    out = tmp_path / "out"
    faces = make_run(out, {"alice": 3, "bob": 2})
    ids = {f.id for fs in faces.values() for f in fs}
    cache: dict = {}
    old = time.time() - 10
    for name in ("alice", "bob"):
        os.utime(out / "clusters" / name, (old, old))  # settled long before the listing
    first = folders.scan(out, ids, cache)
    listed = {name: cache[name].listed_ns for name in ("alice", "bob")}
    again = folders.scan(out, ids, cache)
    assert again.folders == first.folders
    assert {name: cache[name].listed_ns for name in ("alice", "bob")} == listed  # reused
    bob = faces["bob"][0].id
    for suffix in (".jpg", ".txt"):  # moved by hand into alice: both folders change
        (out / "clusters" / "bob" / f"{bob}{suffix}").rename(
            out / "clusters" / "alice" / f"{bob}{suffix}"
        )
    moved = {f.name: f.face_ids for f in folders.scan(out, ids, cache).folders}
    assert bob in moved["alice"] and bob not in moved["bob"]
    # A change in the same timestamp tick as the listing would leave the mtime as it was: a
    # folder that changed within a second of its listing is listed again whatever its mtime.
    cache.clear()
    folders.scan(out, ids, cache)
    stamp = cache["alice"].stat
    (out / "clusters" / "alice" / f"{bob}.jpg").rename(out / "clusters" / "bob" / f"{bob}.jpg")
    st = os.stat(out / "clusters" / "alice")
    os.utime(out / "clusters" / "alice", ns=(st.st_atime_ns, stamp[1]))  # the same tick
    moved = {f.name: f.face_ids for f in folders.scan(out, ids, cache).folders}
    assert bob in moved["bob"] and bob not in moved["alice"]


def test_status_flags_a_named_folder_holding_two_faces_of_one_frame(tmp_path):
    out = tmp_path / "out"
    make_run(out, {"alice": 3, "bob": 3})  # alice and bob share frames
    for crop in (out / "clusters" / "bob").iterdir():
        crop.rename(out / "clusters" / "alice" / crop.name)
    (out / "clusters" / "bob").rmdir()
    st = status([out])
    assert any("'alice' holds two faces of one frame in 3 frame(s)" in p for p in st.problems)
