"""A run stopped while writing its folders: nothing reads the half-written folders as the
user's, or promotes or exports them."""

import pytest

from clusterpipe.errors import ClusterpipeError
from clusterpipe.export import export
from clusterpipe.gallery.promote import promote
from clusterpipe.people.repair import recluster
from clusterpipe.people.status import status
from clusterpipe.store.atomic import write_json
from clusterpipe.store.writing import interrupted, writing

from ..fake_run import make_run


def test_the_mark_stays_only_when_the_block_stops(tmp_path):
    with writing(tmp_path, "recluster"):
        assert interrupted(tmp_path) == "recluster"
    assert interrupted(tmp_path) is None
    with pytest.raises(KeyboardInterrupt), writing(tmp_path, "split"):
        raise KeyboardInterrupt
    assert interrupted(tmp_path) == "split"
    (tmp_path / ".clusterpipe-writing").write_text("[not json")
    assert interrupted(tmp_path) == "run"  # damaged: the most careful reading


def test_after_a_run_stopped_while_writing_only_run_may_go_on(tmp_path):
    out = tmp_path / "out"
    make_run(out, {"alice": 3, "Face_1": 3})
    write_json(out / ".clusterpipe-writing", {"command": "run"})
    for act in (
        lambda: promote(out, tmp_path / "g"),
        lambda: export(out, tmp_path / "ds", "yolo"),
        lambda: recluster(out),
    ):
        with pytest.raises(ClusterpipeError, match="run the same command again"):
            act()
    assert not (tmp_path / "g").exists() and not (tmp_path / "ds").exists()
    assert any("stopped while writing the folders" in p for p in status([out]).problems)
