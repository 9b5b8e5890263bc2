from pathlib import Path

from clusterpipe.gallery.files import SIDECAR, make_folders, remove_unsaved
from clusterpipe.store.layout import LOCK_FILE


def _filled(folder: Path) -> None:
    for name in (
        LOCK_FILE,
        "index-0123456789ab.faiss",
        "vectors-456789abcdef.npy",
        ".index.abcd_123.tmp",
    ):
        (folder / name).write_bytes(b"x")


def test_an_unsaved_gallery_folder_goes_and_its_lock_goes_last(tmp_path, monkeypatch):
    made = make_folders(tmp_path / "a" / "b" / "g")
    assert made == [tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "g"]
    _filled(made[-1])
    unlinked = []
    real = Path.unlink

    def unlink(path, *args, **kwargs):
        unlinked.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    remove_unsaved(made[-1], made)
    # once the lock is gone, a promote waiting for it may write there: nothing after it
    assert unlinked[-1] == LOCK_FILE and len(unlinked) == 4
    assert list(tmp_path.iterdir()) == []


def test_only_what_it_made_goes(tmp_path):
    mine = tmp_path / "g"
    mine.mkdir()
    _filled(mine)
    made = make_folders(tmp_path / "typo" / ".." / "g")  # reaches a folder that exists
    assert made == [tmp_path / "typo"]
    remove_unsaved(tmp_path / "typo" / ".." / "g", made)
    assert len(list(mine.iterdir())) == 4 and not (tmp_path / "typo").exists()
    saved = make_folders(tmp_path / "s")
    _filled(saved[0])
    (saved[0] / SIDECAR).write_text("{}")
    remove_unsaved(saved[0], saved)  # a sidecar: saved, a gallery now
    assert len(list(saved[0].iterdir())) == 5
