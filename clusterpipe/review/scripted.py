"""A scripted user for the "same person?" questions: answers from ground truth and scores the
folders after each answer (bench/ask.py and the dev-footage test use it)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from ..evaluate.metrics import evaluate, load_ground_truth, match_boxes
from ..people.runview import load_view
from .answers import answer, question
from .state import NOISE, Review

TARGET = 0.98


def identities(out: Path, gt: dict) -> dict[str, str]:
    """Face id -> ground-truth identity, for faces matched to a labelled face. Faces the ground
    truth names but does not score (tiny, heavily occluded: `ignore`) count: the user knows who
    they are even where the score leaves them out."""
    view = load_view(out)
    by_second: dict[int, list] = {}
    for f in view.faces:
        by_second.setdefault(int(round(f.time_s)), []).append(f)
    who = {}
    for k, frame in gt["_by_second"].items():
        preds = by_second.get(k, [])
        labelled = [g for g in frame["faces"] if g.get("identity")]
        for i, j in match_boxes([g["box"] for g in labelled], [p.box for p in preds]):
            who[preds[j].id] = labelled[i]["identity"]
    return who


def folder_f1(review: Review, gt: dict) -> float:
    """BCubed F1 of the folders as they are now (noise and rejected: singletons)."""
    where = review.locations()
    label = {w: k for k, w in enumerate(sorted(set(where.values())))}
    faces = [
        {
            "time_s": f.time_s,
            "box": f.box,
            "cluster": label[where[f.id]] if where.get(f.id, NOISE)[0] != "\0" else -1,
        }
        for f in review.faces
    ]
    return evaluate(faces, gt).bcubed_f1


def truthful(q: dict, who: dict[str, str]) -> str:
    """same or different from the sides' majority identities; skip where unknown."""
    sides = []
    for side in (q["a"], q["b"]):
        ids = [who[i] for i in side["faces"] if i in who]
        if not ids:
            return "skip"
        sides.append(Counter(ids).most_common(1)[0][0])
    return "same" if sides[0] == sides[1] else "different"


def scripted(out: Path, gt_path: Path, limit: int) -> tuple[list[float], list[float]]:
    """F1 after 0..n answers, and the seconds each next question took."""
    work = Path(tempfile.mkdtemp()) / "out"
    shutil.copytree(out, work, symlinks=True)
    gt = load_ground_truth(gt_path)
    who = identities(work, gt)
    review = Review(work)
    scores, waits = [folder_f1(review, gt)], []
    answers = 0
    while answers < limit:
        t = time.perf_counter()
        q = question(review)
        waits.append(time.perf_counter() - t)
        if not q["id"]:
            break
        a = truthful(q, who)
        answer(review, q["id"], a)
        if a != "skip":
            answers += 1
            scores.append(folder_f1(review, gt))
    shutil.rmtree(work.parent, ignore_errors=True)
    return scores, waits
