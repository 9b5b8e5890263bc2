import os

import pytest

from clusterpipe.folders import BadNameError, check_name, scan
from clusterpipe.people import status

from .fake_run import make_run


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
    assert ".sneaky" in tree.bad_names
    assert tree.skipped_links == ["clusters/link"]


def test_status_flags_copies_and_names_in_two_runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    make_run(a, {"alice": 2, "bob": 2}, run_id="a")
    make_run(b, {"alice": 2}, run_id="b", seed=1)
    crop = next((a / "clusters" / "alice").glob("*.jpg"))
    (a / "clusters" / "bob" / crop.name).write_bytes(crop.read_bytes())  # copied, not moved
    st = status([a, b])
    assert "alice" in st.shared_names
    assert any("two folders" in p for p in st.problems)
