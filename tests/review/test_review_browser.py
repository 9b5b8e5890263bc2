"""The review page in Debian's chromium, driven by Playwright (no browser download): select
faces, move them to a new name, rename, undo from the keyboard; the files follow."""

from __future__ import annotations

import contextlib
import shutil
import threading

import pytest

from clusterpipe.review import ReviewServer
from tests.helpers import CHROMIUM_FLAGS

from ..fake_run import make_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium not installed (apt-get install chromium)"
    ),
]


@contextlib.contextmanager
def _served_page(out):
    """Debian's chromium on the review page of OUT; no page error may happen meanwhile."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    server = ReviewServer(out, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS))
        pg = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("dialog", lambda d: d.accept())
        pg.goto(server.url)
        pg.wait_for_selector("body[data-ready='1']", timeout=15000)
        yield pg, server
        assert errors == []
        browser.close()
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(tmp_path):
    out = tmp_path / "out"
    faces = make_run(out, {"alice": 4, "bob": 4, "Face_0": 5, "Face_1": 5})
    with _served_page(out) as (pg, _):
        yield pg, out, faces


def _card(pg, key):
    return pg.locator(f"section.card[data-key='{key}']")


def test_select_move_to_a_new_name_rename_and_undo(page):
    pg, out, faces = page
    assert pg.locator("section.card").count() == 4
    assert _card(pg, "alice").locator("img.face").count() == 4
    # Select two faces of Face_0 (click, then shift-click the next one) and move them.
    ids = [f.id for f in faces["Face_0"]]
    first = _card(pg, "Face_0").locator("img.face").nth(0)
    first.click()
    _card(pg, "Face_0").locator("img.face").nth(1).click(modifiers=["Shift"])
    assert pg.text_content("#count") == "2 selected"
    picked = [
        _card(pg, "Face_0").locator("img.face").nth(k).get_attribute("data-id") for k in (0, 1)
    ]
    assert set(picked) <= set(ids)
    pg.fill("#to", "carol")
    pg.click("#move")
    pg.wait_for_selector("section.card[data-key='carol']")
    assert sorted(p.stem for p in (out / "clusters" / "carol").glob("*.jpg")) == sorted(picked)
    assert _card(pg, "Face_0").locator("img.face").count() == 3
    assert pg.text_content("#count") == "0 selected"
    # Images of the moved faces load from their new place.
    loaded = (
        _card(pg, "carol")
        .locator("img.face")
        .evaluate_all("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)")
    )
    assert loaded
    # Rename a folder by typing its new name.
    name = _card(pg, "Face_1").locator("input.name")
    name.fill("dave")
    name.press("Enter")
    pg.wait_for_selector("section.card[data-key='dave']")
    assert (out / "clusters" / "dave").is_dir() and not (out / "clusters" / "Face_1").exists()
    # u undoes the rename, then the move.
    pg.locator("h1").click()
    pg.keyboard.press("u")
    pg.wait_for_selector("section.card[data-key='Face_1']")
    pg.keyboard.press("u")
    pg.wait_for_selector("section.card[data-key='carol']", state="detached")
    assert sorted(p.stem for p in (out / "clusters" / "Face_0").glob("*.jpg")) == sorted(ids)


def test_reject_from_the_keyboard_and_restore(page):
    pg, out, faces = page
    fid = faces["alice"][0].id
    pg.locator(f"img.face[data-id='{fid}']").click()
    pg.keyboard.press("Delete")
    pg.wait_for_selector(f"section.card.rejected img.face[data-id='{fid}']")
    assert (out / "rejected" / f"{fid}.jpg").is_file()
    pg.locator(f"section.card.rejected img.face[data-id='{fid}']").click()
    pg.fill("#to", "alice")
    pg.press("#to", "Enter")
    pg.wait_for_selector("section.card.rejected", state="detached")
    assert (out / "clusters" / "alice" / f"{fid}.jpg").is_file()


@pytest.fixture
def mixed_page(tmp_path):
    from .test_questions import _mixed_run

    out = tmp_path / "out"
    truth = _mixed_run(out)
    with _served_page(out) as (pg, server):
        yield pg, out, truth, server


def test_same_person_questions_answered_from_the_keyboard(mixed_page):
    from .test_questions import _pure_and_whole

    pg, out, truth, _ = mixed_page
    pg.keyboard.press("q")
    answered = 0
    for _ in range(8):
        pg.wait_for_function(
            "() => document.getElementById('ask').dataset.qid !== undefined"
            " && document.getElementById('why').textContent !== ''"
        )
        qid = pg.evaluate("document.getElementById('ask').dataset.qid")
        if not qid:
            break
        a = pg.eval_on_selector_all("#sidea img", "imgs => imgs.map(i => i.dataset.id)")
        b = pg.eval_on_selector_all("#sideb img", "imgs => imgs.map(i => i.dataset.id)")
        same = max(set(x := [truth[i] for i in a]), key=x.count) == max(
            set(y := [truth[i] for i in b]), key=y.count
        )
        pg.keyboard.press("s" if same else "d")
        pg.wait_for_function(
            f"() => document.getElementById('ask').dataset.qid !== {qid!r}", timeout=10000
        )
        answered += 1
    assert answered >= 2 and _pure_and_whole(out, truth)
    assert "Nothing left" in pg.text_content("#why")
    assert "faces named" in pg.text_content("#progress")


def test_backspace_rejects_nothing_and_a_refused_rename_restores_the_field(mixed_page):
    pg, out, _, _ = mixed_page
    card = pg.locator("section.card[data-key='alice']")
    card.locator("img.face").nth(0).click()
    pg.keyboard.press("Backspace")
    pg.wait_for_timeout(300)
    assert not (out / "rejected").exists()  # only Delete rejects
    name = card.locator("input.name")
    name.fill("bad/name")
    name.press("Enter")
    pg.wait_for_selector("#status.err")
    assert name.input_value() == "alice"


def test_accept_and_reject_a_suggestion(tmp_path):
    import json

    out = tmp_path / "out"
    faces = make_run(out, {"alice": 6, "bob": 6, "carol": 4})
    clusters = out / "clusters"
    (clusters / "Face_5").mkdir()  # three of alice's faces, unnamed: they look like alice
    for f in faces["alice"][:3]:
        for s in (".jpg", ".txt"):
            (clusters / "alice" / f"{f.id}{s}").rename(clusters / "Face_5" / f"{f.id}{s}")
    (clusters / "carol").rename(clusters / "Face_6")  # carol, unnamed: looks like nobody
    with _served_page(out) as (pg, _):
        row = pg.locator("section.card[data-key='alice'] .sugg[data-folder='Face_5']")
        row.wait_for(timeout=10000)
        assert pg.locator(".sugg[data-folder='Face_6']").count() == 0
        row.locator("button.accept").click()
        pg.wait_for_function("() => !document.querySelector(\"section.card[data-key='Face_5']\")")
        assert len(list((clusters / "alice").glob("*.jpg"))) == 6
    # reject: split alice again by hand, then say "not them"
    (clusters / "Face_7").mkdir()
    for f in faces["alice"][:3]:
        for s in (".jpg", ".txt"):
            (clusters / "alice" / f"{f.id}{s}").rename(clusters / "Face_7" / f"{f.id}{s}")
    with _served_page(out) as (pg, _):
        row = pg.locator(".sugg[data-folder='Face_7']")
        row.wait_for(timeout=10000)
        row.locator("button.reject").click()
        pg.wait_for_function("() => !document.querySelector(\".sugg[data-folder='Face_7']\")")
        apart = json.loads((out / "corrections.json").read_text())["apart"]
        assert any({f.id for f in faces["alice"][:3]} == set(g[0]) for g in apart)
        pg.keyboard.press("u")  # undone: suggested again (it stayed away until a reload)
        row.wait_for(timeout=10000)
        corrections = out / "corrections.json"  # made by the "not them": gone with it
        assert not corrections.exists() or json.loads(corrections.read_text())["apart"] == []
        row.locator("button.reject").click()
        pg.wait_for_function("() => !document.querySelector(\".sugg[data-folder='Face_7']\")")
        pg.reload()
        pg.wait_for_selector("body[data-ready='1']")
        pg.wait_for_timeout(500)
        assert pg.locator(".sugg[data-folder='Face_7']").count() == 0  # never again


def test_keyboard_cursor_cross_card_range_and_filters(page):
    pg, out, faces = page
    cur = "() => document.querySelector('img.face.cur')"
    pg.keyboard.press("j")
    pg.keyboard.press("j")
    assert pg.evaluate(f"({cur})().dataset.i") == "1"
    pg.keyboard.press(" ")
    assert pg.text_content("#count") == "1 selected"
    pg.keyboard.press("ArrowDown")  # the next folder's first face
    assert pg.evaluate(f"({cur})().dataset.card") == "bob"
    pg.keyboard.press(" ")
    assert pg.text_content("#count") == "2 selected"
    pg.keyboard.press("g")  # the next unnamed folder
    assert pg.evaluate(f"({cur})().dataset.card") == "Face_0"
    pg.keyboard.press("Escape")
    # A shift-click range runs across cards, in page order.
    pg.locator("section.card[data-key='alice'] img.face").nth(2).click()
    pg.locator("section.card[data-key='bob'] img.face").nth(1).click(modifiers=["Shift"])
    assert pg.text_content("#count") == f"{2 + 2} selected"  # alice's last two, bob's first two
    # Unnamed only, and a text filter.
    pg.check("#unnamedonly")
    hidden = pg.eval_on_selector_all("section.card.hidden", "cs => cs.map(c => c.dataset.key)")
    assert set(hidden) == {"alice", "bob"}
    pg.uncheck("#unnamedonly")
    pg.fill("#filter", "face_1")
    shown = pg.eval_on_selector_all("section.card:not(.hidden)", "cs => cs.map(c => c.dataset.key)")
    assert shown == ["Face_1"]
    pg.fill("#thumb", "120")
    width = pg.evaluate(
        "document.querySelector('section.card:not(.hidden) img.face').getBoundingClientRect().width"
    )
    assert width > 100


def test_collapse_named_and_select_all_in_noise(page):
    pg, out, faces = page
    pg.click("#foldnamed")
    assert pg.locator("section.card[data-key='alice'] img.face").count() == 0
    assert pg.locator("section.card[data-key='Face_0'] img.face").count() == 5
    pg.locator("section.card[data-key='alice'] button.fold").click()
    assert pg.locator("section.card[data-key='alice'] img.face").count() == 4
    # send two faces to noise, then select all of noise
    pg.locator("section.card[data-key='Face_1'] img.face").nth(0).click()
    pg.locator("section.card[data-key='Face_1'] img.face").nth(1).click(modifiers=["Shift"])
    pg.keyboard.press("x")
    pg.wait_for_selector("section.card.noise")
    assert len(list((out / "noise").glob("*.jpg"))) == 2
    pg.locator("section.card.noise button", has_text="Select all").click()
    assert pg.text_content("#count") == "2 selected"


def test_a_nested_folder_is_shown_as_a_problem(tmp_path):
    out = tmp_path / "out"
    make_run(out, {"alice": 4, "bob": 3, "Face_0": 3})
    (out / "clusters" / "Face_0").rename(out / "clusters" / "alice" / "Face_0")
    with _served_page(out) as (pg, _):
        assert pg.is_visible("#problems")
        assert "alice/Face_0" in pg.text_content("#problems")
        (out / "clusters" / "alice" / "Face_0").rename(out / "clusters" / "Face_0")
        pg.locator("section.card[data-key='bob'] img.face").nth(0).click()
        pg.keyboard.press("x")  # any action answers with the folders as they now are
        pg.wait_for_selector("section.card.noise")
        pg.wait_for_selector("#problems", state="hidden")
        assert _card(pg, "Face_0").locator("img.face").count() == 3  # moved out in a terminal


def test_a_folder_made_from_another_tab_appears_after_the_next_action(tmp_path):
    out = tmp_path / "out"
    make_run(out, {"alice": 4, "bob": 4, "Face_0": 5, "Face_1": 5})
    with _served_page(out) as (pg, server):
        _two_tabs(pg, server)


def _two_tabs(pg, server):
    other = pg.context.browser.new_page()
    other.goto(server.url)
    other.wait_for_selector("body[data-ready='1']")
    other.locator("section.card[data-key='Face_1'] img.face").nth(0).click()
    other.keyboard.press("n")  # a new person, made in the other tab
    other.wait_for_selector("section.card[data-key='Face_4']")  # Face_2, _3: the run's own
    pg.locator("section.card[data-key='bob'] img.face").nth(0).click()
    pg.keyboard.press("x")
    pg.wait_for_selector("section.card[data-key='Face_4']")
    assert _card(pg, "Face_1").locator("img.face").count() == 4


def test_a_move_between_folders_in_another_tab_shows_after_the_next_action(tmp_path):
    out = tmp_path / "out"
    make_run(out, {"alice": 4, "bob": 4, "Face_0": 5, "Face_1": 5})
    with _served_page(out) as (pg, server):
        other = pg.context.browser.new_page()
        other.goto(server.url)
        other.wait_for_selector("body[data-ready='1']")
        other.locator("section.card[data-key='Face_1'] img.face").nth(0).click()
        other.fill("#to", "Face_0")  # into a folder both tabs already show
        other.click("#move")
        _card(other, "Face_0").locator("img.face").nth(5).wait_for()  # a sixth face
        pg.locator("section.card[data-key='bob'] img.face").nth(0).click()
        pg.keyboard.press("x")  # this tab acts on bob only
        _card(pg, "Face_0").locator("img.face").nth(5).wait_for()  # a sixth face
        assert _card(pg, "Face_1").locator("img.face").count() == 4


def test_an_action_while_another_runs_is_said_and_the_selection_kept(page):
    from clusterpipe.store.lock import Lock

    pg, out, faces = page
    bob0 = faces["bob"][0].id
    face = f"section.card[data-key='bob'] img.face[data-id='{bob0}']"
    with Lock(out):  # another command holds OUT: the page's action waits for it (2 s)
        _card(pg, "alice").locator("img.face").nth(0).click()
        pg.keyboard.press("x")
        pg.wait_for_selector("#status:has-text('working')")
        pg.locator(face).click()  # selected while `x` runs
        pg.keyboard.press("Delete")
        assert "last action is still running" in pg.locator("#status").inner_text()
        pg.wait_for_selector("#status:has-text('still running')", state="detached")
    assert not (out / "rejected").exists()  # the Delete was not sent, and said so
    assert "sel" in pg.locator(face).get_attribute("class")
    pg.keyboard.press("Delete")  # again, once the other command is done: it is applied
    pg.wait_for_selector(face, state="detached")
    assert (out / "rejected" / f"{bob0}.jpg").is_file()


def test_a_name_typed_but_not_sent_is_not_shown_as_the_folders(page):
    pg, out, _ = page
    name = _card(pg, "Face_0").locator("input.name")
    name.fill("carol")
    _card(pg, "alice").locator("img.face").nth(0).click()  # elsewhere, without Enter
    assert name.input_value() == "Face_0" and (out / "clusters" / "Face_0").is_dir()
    assert "not renamed" in pg.locator("#status").inner_text()


def test_an_action_refused_on_a_stale_page_shows_the_folders_as_they_are(page):
    pg, out, _ = page
    (out / "clusters" / "bob").rename(out / "clusters" / "robert")  # in a terminal
    name = _card(pg, "bob").locator("input.name")
    name.fill("bobby")
    name.press("Enter")
    _card(pg, "robert").wait_for(timeout=10000)  # refused, and the page caught up
    assert "no folder" in pg.locator("#status").inner_text()
    assert _card(pg, "bob").count() == 0 and not (out / "clusters" / "bobby").exists()


def test_a_question_answered_in_another_tab_moves_on_to_the_next(mixed_page):
    import http.client
    import json

    pg, _, _, server = mixed_page
    pg.keyboard.press("q")
    pg.wait_for_function("() => document.getElementById('ask').dataset.qid")
    qid = pg.evaluate("() => document.getElementById('ask').dataset.qid")
    other = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)  # another tab
    headers = {"X-Clusterpipe-Token": server.token, "Content-Type": "application/json"}
    other.request("POST", "/api/answer", json.dumps({"id": qid, "answer": "skip"}), headers)
    assert other.getresponse().status == 200
    pg.keyboard.press("k")  # out of date here: the page asks for the next (it stayed stuck)
    pg.wait_for_function(
        f"() => document.getElementById('ask').dataset.qid !== {qid!r}", timeout=10000
    )


def test_the_keyboard_cursor_stays_in_its_folder_after_an_action(page):
    pg, out, faces = page
    cur = "() => document.querySelector('img.face.cur')"
    for key in ("g", "j", "j"):  # Face_0's third face
        pg.keyboard.press(key)
    pg.keyboard.press(" ")
    pg.keyboard.press("x")  # to noise: Face_0's card is drawn again
    pg.wait_for_selector("#status:has-text('done')")
    assert pg.evaluate(f"({cur})().dataset.card") == "Face_0"
    assert pg.evaluate(f"({cur})().dataset.i") == "2"  # the face after it took its place
