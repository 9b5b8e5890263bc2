"""One person, one name, however it is typed: NFC and NFD (as macOS writes names) are one name
on the review page, in status, promote and the gallery (reliability III, class 3)."""

from __future__ import annotations

import unicodedata

from clusterpipe.gallery.promote import list_people, promote, remove_person
from clusterpipe.people.status import status

from ..fake_run import make_run
from ..review.test_review import call, served  # noqa: F401 - the review server fixture

NFC = unicodedata.normalize("NFC", "José")
NFD = unicodedata.normalize("NFD", "José")


def test_nfc_and_nfd_differ_as_bytes():
    assert NFC != NFD and len(NFD) == len(NFC) + 1


def test_a_rename_onto_the_other_form_merges(served):  # noqa: F811
    server, out, faces = served
    (out / "clusters" / "alice").rename(out / "clusters" / NFD)  # as macOS wrote it
    status_, answer = call(server, "POST", "/api/rename", {"folder": "Face_0", "to": NFC})
    assert status_ == 200, answer
    folders = [p.name for p in (out / "clusters").iterdir()]
    assert NFD in folders and NFC not in folders and "Face_0" not in folders
    assert len(list((out / "clusters" / NFD).glob("*.jpg"))) == 6 + 5
    status_, answer = call(server, "POST", "/api/move", {"faces": [faces["bob"][0].id], "to": NFC})
    assert status_ == 200 and [p.name for p in (out / "clusters").iterdir()].count(NFC) == 0


def test_status_promote_and_gallery_treat_both_forms_as_one_person(tmp_path):
    out = tmp_path / "out"
    make_run(out, {NFC: 3, "Face_0": 3})
    (out / "clusters" / "Face_0").rename(out / "clusters" / NFD)
    problems = status([out]).problems
    assert any("one name written two ways" in p for p in problems), problems
    assert not any("differ only by case" in p for p in problems)
    gallery = tmp_path / "g"
    promote(out, gallery)
    assert list_people(gallery) == {NFC: 6}
    assert remove_person(gallery, NFD) == 6 and list_people(gallery) == {}


def test_names_that_differ_by_case_are_still_reported_as_such(tmp_path):
    out = tmp_path / "out"
    make_run(out, {"Ana": 3, "ana": 3})
    problems = status([out]).problems
    assert any("differ only by case" in p for p in problems), problems
