"""The review page's "same person?" mode: ask the most valuable question, apply an answer as
moves of files plus a correction (together or apart), undoably."""

from __future__ import annotations

from ..corrections import CORRECTIONS_FILE, Corrections
from ..errors import ClusterpipeError
from ..layout import is_unnamed
from ..store import Lock
from .questions import questions
from .state import NOISE, Change, Review


def _questions(review: Review, where: dict[str, str]) -> list:

    named = {w for w in where.values() if not w.startswith("\0") and not is_unnamed(w)}
    return questions(
        where,
        review.space,
        review.by_id,
        review.eps,
        named,
        NOISE,
        Corrections.load(review.out),
        review.skipped,
        {f.id: (f.video, f.frame_index) for f in review.faces},
    )


def question(review: Review) -> dict:
    """The most valuable "same person?" question now, or {"id": None} when none is left."""
    with Lock(review.out):
        found = _questions(review, review.locations())
        return found[0].to_json() if found else {"id": None}


def answer(review: Review, qid: object, answer: object) -> dict:
    """Apply an answer (same, different or skip) to a question just asked: the folders move
    and corrections.json remembers it, undoably."""
    if answer not in ("same", "different", "skip"):
        raise ClusterpipeError("answer must be same, different or skip")
    with Lock(review.out):
        where = review.locations()
        found = {q.id: q for q in _questions(review, where)}
        q = found.get(qid) if isinstance(qid, str) else None
        if q is None:
            raise ClusterpipeError("that question is out of date: ask again")
        if answer == "skip":
            review.skipped.add(q.id)
            return review.state(set(), where)
        before = review._top_folders()
        change = Change(f"answer {answer}")
        path = review.out / CORRECTIONS_FILE
        change.files = {CORRECTIONS_FILE: path.read_bytes() if path.is_file() else None}
        corr = Corrections.load(review.out)
        a, b = list(q.a.members), list(q.b.members)
        touched: set[str] = set()
        if answer == "same":
            corr.together.append(a + b)
            if q.kind == "merge":
                assert q.a.folder is not None and q.b.folder is not None
                src, dst = q.b.folder, q.a.folder
                if not is_unnamed(src) or (is_unnamed(dst) and len(b) > len(a)):
                    src, dst = dst, src  # into the named folder, else into the larger
                moving = [i for i, w in where.items() if w == src]
                touched = review._apply_moves(change, moving, where, dst)
            elif q.kind == "noise":
                assert q.b.folder is not None
                touched = review._apply_moves(change, a, where, q.b.folder)
        else:
            corr.apart.append([a, b])
            if q.kind == "split":
                touched = review._apply_moves(change, b, where, review._new_unnamed(where))
        corr.save(review.out)
        review._record(change, before)
        return review.state(touched, where)
