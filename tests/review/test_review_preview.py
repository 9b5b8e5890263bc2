"""The review page's preview: a face's source frame, decoded again with its box drawn, and its
track's faces; through the API and in Debian's chromium. One real run of the faces clip."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from clusterpipe.api import run
from clusterpipe.config import RunSettings
from clusterpipe.people.runview import load_view
from clusterpipe.review import ReviewServer
from clusterpipe.sample.video import sample_frames

from .test_review import call

pytestmark = pytest.mark.slow  # one whole run


@pytest.fixture(scope="module")
def served_run(faces_video, tmp_path_factory):
    out = tmp_path_factory.mktemp("preview") / "out"
    run([str(faces_video)], out, RunSettings(workers=2, segment_seconds=5.0, progress=False))
    server = ReviewServer(out, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, out
    server.shutdown()
    server.server_close()


def test_the_preview_shows_the_faces_frame_with_its_box_and_its_track(served_run):
    server, out = served_run
    view = load_view(out)
    face = view.faces[len(view.faces) // 2]
    status, d = call(server, "GET", f"/api/face/{face.id}")
    assert status == 200 and d["id"] == face.id and d["frame_url"] == f"/frame/{face.id}"
    k = view.by_id[face.id]
    same_track = {f.id for f, t in zip(view.faces, view.tracks) if t == view.tracks[k]}
    assert set(d["track"]) == same_track and face.id in d["track"] and len(d["track"]) >= 2
    status, jpg = call(server, "GET", d["frame_url"])
    assert status == 200
    got = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
    want = next(
        s.image for s in sample_frames(face.video, 1.0) if s.frame_index == face.frame_index
    )
    assert got.shape == want.shape
    x1, y1, x2, y2 = face.box
    inside = (slice(y1 + 6, y2 - 6), slice(x1 + 6, x2 - 6))
    assert np.abs(got[inside].astype(int) - want[inside].astype(int)).mean() < 6  # that frame
    edge = got[y1, x1 + 5 : x2 - 5].astype(int)
    assert (edge[:, 2] > 180).mean() > 0.8 and (edge[:, 0] < 80).mean() > 0.8  # a red box
    assert call(server, "GET", "/api/face/nope")[0] == 404


@pytest.mark.browser
def test_double_click_opens_the_preview(served_run):
    from .test_review_browser import CHROMIUM, _served_page

    if CHROMIUM is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    _, out = served_run
    with _served_page(out) as (pg, _):
        img = pg.locator("img.face").nth(3)
        fid = img.get_attribute("data-id")
        img.dblclick()
        pg.wait_for_selector("#preview.open")
        pg.wait_for_function("() => document.getElementById('pframe').naturalWidth > 0")
        assert pg.evaluate("document.getElementById('pframe').naturalWidth") == 640
        assert fid in pg.text_content("#pinfo")
        assert pg.locator("#ptrack img").count() >= 2
        pg.keyboard.press("Escape")
        assert not pg.is_visible("#preview")
