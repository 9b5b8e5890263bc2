"""What the user decides on the review page beyond moving faces: "same person?" questions and
answers, and suggestions accepted or rejected; each a correction (together or apart), undoably."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ClusterpipeError
from ..store.corrections import CORRECTIONS_FILE, Corrections
from ..store.layout import is_unnamed
from ..store.lock import Lock
from ..store.runinfo import file_bytes
from .changes import WAIT_SECONDS, Change, changing, say
from .questions import questions
from .state import NOISE, REJECTED, Review


def _questions(review: Review, where: dict[str, str]) -> list:
    """The ranked questions, computed once per state of the folders and corrections (the page
    asks again right after each answer)."""
    path = review.out / CORRECTIONS_FILE
    state = (dict(where), file_bytes(path), frozenset(review.skipped))
    memo = review.memo.get("questions")
    if memo is not None and memo[0] == state and memo[1] is review.space:
        return memo[2]
    named = {w for w in where.values() if not w.startswith("\0") and not is_unnamed(w)}
    if review.memo.get("splits_of") is not review.space:  # the faces changed: start over
        review.memo["splits"], review.memo["splits_of"] = {}, review.space
    found = questions(
        where,
        review.space,
        review.by_id,
        review.eps,
        named,
        NOISE,
        Corrections.load(review.out),
        review.skipped,
        {f.id: (f.video, f.frame_index) for f in review.faces},
        review.memo["splits"],
    )
    review.memo["questions"] = (state, review.space, found)
    return found


def question(review: Review) -> dict:
    """The most valuable "same person?" question now, or {"id": None} when none is left."""
    with Lock(review.out, wait=WAIT_SECONDS):
        found = _questions(review, review.locations())
        return found[0].to_json() if found else {"id": None}


def answer(review: Review, qid: object, answer: object) -> dict:
    """Apply an answer (same, different or skip) to a question just asked: the folders move
    and corrections.json remembers it, undoably. The reply holds the next question."""
    if answer not in ("same", "different", "skip"):
        raise ClusterpipeError("answer must be same, different or skip")
    with changing(review.out):
        where = review.locations()
        found = {q.id: q for q in _questions(review, where)}
        q = found.get(qid) if isinstance(qid, str) else None
        if q is None:
            raise ClusterpipeError("that question is out of date: ask again")
        if answer == "skip":
            review.skipped.add(q.id)
            return _with_next(review, review.state(set(), where), where)
        before = review._top_folders()
        change = Change(f"answer {answer}")
        was = {CORRECTIONS_FILE: file_bytes(review.out / CORRECTIONS_FILE)}
        corr = Corrections.load(review.out)
        a, b = list(q.a.members), list(q.b.members)
        moving, dst = [], None
        if answer == "same":
            change.said = say(review.out, corr, "together", a + b)
            if q.kind == "merge":
                assert q.a.folder is not None and q.b.folder is not None
                src, dst = q.b.folder, q.a.folder
                if not is_unnamed(src) or (is_unnamed(dst) and len(b) > len(a)):
                    src, dst = dst, src  # into the named folder, else into the larger
                moving = [i for i, w in where.items() if w == src]
            elif q.kind == "noise":
                assert q.b.folder is not None
                moving, dst = a, q.b.folder
        else:
            change.said = say(review.out, corr, "apart", [a, b])
            if q.kind == "split":
                moving, dst = b, review._new_unnamed(where)
        # The correction first: if it cannot be written, nothing has moved yet; if a move is
        # then refused (all or nothing), the correction is taken back too.
        corr.save(review.out)
        touched: set[str] = set()
        try:
            if dst is not None:
                touched = review._apply_moves(change, moving, where, dst)
        except BaseException:
            review.restore(was)
            raise
        review._record(change, before)
        return _with_next(review, review.state(touched, where), where)


def _with_next(review: Review, state: dict, where: dict[str, str]) -> dict:
    """An answer's reply: the folders that changed and the next question (`next`), chosen
    from the folders as the answer left them (the page needs no second request)."""
    found = _questions(review, where)
    return {**state, "next": found[0].to_json() if found else {"id": None}}


@dataclass
class _Folders:
    """The review page's state in the shape look_alikes reads (suggest.Folders)."""

    now: dict[str, str | None]
    named: set[str]
    by_id: dict[str, int]
    frames: list[tuple]
    space: np.ndarray
    faces: list


def suggestions(review: Review) -> dict:
    """Unnamed folders that look like a named person (status --suggest's evidence), per person,
    with a few faces each, for accept (a merge: rename) and reject (keep_apart) on the page."""
    from ..people.suggest import look_alikes

    with Lock(review.out, wait=WAIT_SECONDS):
        where = review.locations()
        path = review.out / CORRECTIONS_FILE
        state = (dict(where), file_bytes(path))
        memo = review.memo.get("suggestions")
        if memo is not None and memo[0] == state and memo[1] is review.space:
            return memo[2]
        now: dict[str, str | None] = {f: (None if w == REJECTED else w) for f, w in where.items()}
        folders: dict[str, list[str]] = {}
        for fid, w in where.items():
            folders.setdefault(w, []).append(fid)
        view = _Folders(
            now,
            {w for w in folders if not w.startswith("\0") and not is_unnamed(w)},
            review.by_id,
            [(f.video, f.frame_index) for f in review.faces],
            review.space,
            review.faces,
        )
        unnamed = {w: set(ids) for w, ids in folders.items() if is_unnamed(w)}
        looks = look_alikes(view, unnamed, review.eps, Corrections.load(review.out))
        out: dict[str, list[dict]] = {}
        for folder, person, d in looks:
            faces = folders.get(folder, [])[:4]
            out.setdefault(person, []).append({"folder": folder, "distance": d, "faces": faces})
        result = {"looks_like": out}
        review.memo["suggestions"] = (state, review.space, result)
        return result


def keep_apart(review: Review, folder: object, person: object) -> dict:
    """Reject a suggestion: the folder and the person are different people, remembered in
    corrections.json so that it is never suggested again (undoable)."""
    with changing(review.out):
        where = review.locations()
        names = {w for w in where.values() if not w.startswith("\0")}
        if (
            not isinstance(folder, str)
            or not isinstance(person, str)
            or not ({folder, person} <= names)
        ):
            raise ClusterpipeError("unknown folder; reload the page")
        if folder == person:
            raise ClusterpipeError("a folder cannot be kept apart from itself")
        entry = [
            [i for i, w in where.items() if w == folder],
            [i for i, w in where.items() if w == person],
        ]
        corr = Corrections.load(review.out)
        change = Change("keep apart", said=say(review.out, corr, "apart", entry))
        corr.save(review.out)
        review._record(change, review._top_folders())
        return review.state(set(), where)
