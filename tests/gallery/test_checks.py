"""One name per person: where a promote's faces come from, and who they look like."""

import logging
import shutil

import numpy as np
import pytest

from clusterpipe.errors import ClusterpipeError
from clusterpipe.gallery.promote import list_people, promote, remove_person

from ..fake_run import make_run


def test_a_copy_of_a_promoted_run_is_refused_until_the_original_is_gone(tmp_path):
    a, b, g = tmp_path / "a", tmp_path / "b", tmp_path / "g"
    make_run(a, {"alice": 4, "bob": 3}, run_id="a")
    promote(a, g)
    shutil.copytree(a, b, symlinks=True)
    shutil.rmtree(b / "clusters" / "bob")
    with pytest.raises(ClusterpipeError, match="is a copy of"):
        promote(b, g)
    assert list_people(g) == {"alice": 4, "bob": 3}  # nothing taken away
    shutil.rmtree(a)  # moved, not copied: the run now lives in b
    res = promote(b, g)
    assert res.removed == {"bob": 3} and list_people(g) == {"alice": 4}
    shutil.rmtree(b)
    make_run(b, {"carol": 2}, run_id="b2", seed=3)
    promote(b, g)  # entries of the run moved to b follow it: replaced by b's new run
    assert list_people(g) == {"carol": 2}


def test_a_fresh_run_in_the_same_folder_replaces_what_the_old_one_promoted(tmp_path, caplog):
    a, g = tmp_path / "a", tmp_path / "g"
    make_run(a, {"alice": 4, "g02": 2}, run_id="first")
    promote(a, g)
    shutil.rmtree(a)
    make_run(a, {"alice": 4}, run_id="second")  # `run --fresh`: a new id, the same faces
    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        res = promote(a, g)
    assert list_people(g) == {"alice": 4}  # not 8, and no g02 left behind
    assert res.removed == {"g02": 2} and res.added == {}
    assert "the run this folder held before (id first)" in caplog.text


def test_one_face_under_two_names_and_one_name_for_two_people_are_warned(tmp_path, caplog):
    a, b, c, g = (tmp_path / n for n in "abcg")
    make_run(a, {"alice": 4}, run_id="a")
    make_run(b, {"Alice Smith": 4}, run_id="b")  # the same footage, named otherwise
    make_run(c, {"alice": 3}, run_id="c", seed=9)  # someone else, named alice
    promote(a, g)
    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        promote(b, g)
    assert "4 faces of 'Alice Smith' are in the gallery already as 'alice'" in caplog.text
    assert "'Alice Smith' of this run looks like 'alice'" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        promote(c, g)
    assert "two people under one name?" in caplog.text
    assert list_people(g) == {"alice": 7, "Alice Smith": 4}  # warned, not refused


def test_promote_warns_of_a_named_folder_with_two_faces_of_one_frame(tmp_path, caplog):
    out, g = tmp_path / "a", tmp_path / "g"
    make_run(out, {"alice": 3, "bob": 3})
    for crop in (out / "clusters" / "bob").iterdir():
        crop.rename(out / "clusters" / "alice" / crop.name)
    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        promote(out, g)
    assert "'alice' holds two faces of one frame" in caplog.text


def test_a_removed_person_promoted_again_is_warned_once(tmp_path, caplog):
    out, g = tmp_path / "a", tmp_path / "g"
    make_run(out, {"alice": 3, "bob": 2})
    promote(out, g)
    remove_person(g, "alice")
    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        promote(out, g)
    assert "'alice' was taken out of the gallery with `gallery --remove`" in caplog.text
    assert list_people(g) == {"alice": 3, "bob": 2}
    caplog.clear()
    shutil.rmtree(out / "clusters" / "alice")
    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        promote(out, g)
    assert "taken out" not in caplog.text


def test_a_folder_named_from_the_gallery_that_holds_another_known_person_is_warned(
    tmp_path, caplog
):
    from dataclasses import replace

    from clusterpipe.gallery.identify import Doubt, name_clusters, name_groups
    from clusterpipe.gallery.store import Gallery

    make_run(tmp_path / "known", {"alice": 4, "bob": 5}, run_id="known")
    promote(tmp_path / "known", tmp_path / "g")
    faces = make_run(tmp_path / "new", {"alice": 4, "bob": 5}, run_id="new")
    gallery = Gallery.open(tmp_path / "g")
    names = name_groups({"one": faces["alice"] + faces["bob"][:1]}, gallery)
    assert dict(names) == {"one": "alice"} and names.doubts == {}  # one face: noise
    names = name_groups({"mixed": faces["alice"] + faces["bob"][:2]}, gallery)
    assert dict(names) == {"mixed": "alice"} and names.doubts == {"mixed": Doubt("bob", 2, 6)}
    # A run names the cluster's folder after the person: the warning says which folder.
    mixed = [replace(f, cluster=7) for f in faces["alice"] + faces["bob"][:2]]
    with caplog.at_level(logging.WARNING, logger="clusterpipe"):
        assert name_clusters(mixed, tmp_path / "g") == {7: "alice"}
    assert "alice: named from the gallery, but 2 of the 6 faces put there look like bob" in (
        caplog.text
    )


def test_an_image_whose_header_gives_no_size_is_capped_by_bytes(tmp_path, monkeypatch):
    import cv2

    import clusterpipe.gallery.identify as ident
    from clusterpipe.errors import InputError

    pam = tmp_path / "big"  # PAM: OpenCV decodes it, Pillow cannot size it from its header
    cv2.imwrite(str(tmp_path / "big.pam"), np.zeros((300, 400, 3), np.uint8))
    (tmp_path / "big.pam").rename(pam)
    assert ident._image_size(pam) is None and ident._read_image(pam).shape == (300, 400, 3)
    monkeypatch.setattr(ident, "MAX_UNCHECKED_BYTES", pam.stat().st_size - 1)
    with pytest.raises(InputError, match="convert it to JPEG or PNG"):
        ident._read_image(pam)


def test_a_photo_with_a_video_extension_is_read_as_the_photo(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import cv2

    import clusterpipe.encode.frame as frame
    from clusterpipe.config import EncodeSettings
    from clusterpipe.gallery.identify import _encode_input

    seen = []

    def found(encoder, image, settings):
        seen.append(image.shape)
        return SimpleNamespace(boxes=[], encodings=[], vectors=None)

    monkeypatch.setattr(frame, "detect_and_encode", found)
    photo = tmp_path / "photo.mp4"  # probe said "is an image, not a video (identify takes images)"
    photo.write_bytes(cv2.imencode(".jpg", np.zeros((30, 40, 3), np.uint8))[1].tobytes())
    assert [t for t, *_ in _encode_input(photo, None, EncodeSettings())] == [None]
    assert seen == [(30, 40, 3)]
