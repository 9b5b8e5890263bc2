"""Score a run against per-second ground truth: detection and clustering (BCubed, pairwise)."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .._moved import DictAccess
from ..detect.boxes import iou_matrix
from ..errors import InputError

# A prediction matches a ground-truth face at this IoU or more (the scorer's rule).
MATCH_IOU = 0.3


def match_boxes(
    gt: Sequence, pred: Sequence, threshold: float = MATCH_IOU
) -> list[tuple[int, int]]:
    """Hungarian matching on IoU; pairs with IoU >= threshold."""
    if len(gt) == 0 or len(pred) == 0:
        return []
    from scipy.optimize import linear_sum_assignment

    m = iou_matrix(gt, pred)
    rows, cols = linear_sum_assignment(-m)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if m[r, c] >= threshold]


def clustering_scores(true: Sequence, pred: Sequence) -> dict[str, float]:
    """BCubed and pairwise precision/recall/F1 of predicted labels against true labels."""
    n = len(true)
    if n == 0:
        return {
            k: 0.0
            for k in (
                "bcubed_precision",
                "bcubed_recall",
                "bcubed_f1",
                "pairwise_precision",
                "pairwise_recall",
                "pairwise_f1",
            )
        }
    joint, tc, pc = Counter(zip(true, pred)), Counter(true), Counter(pred)
    bp = sum(joint[(t, p)] / pc[p] for t, p in zip(true, pred)) / n
    br = sum(joint[(t, p)] / tc[t] for t, p in zip(true, pred)) / n
    pairs = lambda c: sum(v * (v - 1) // 2 for v in c.values())  # noqa: E731
    tp, pp, tt = pairs(joint), pairs(pc), pairs(tc)
    pw_p, pw_r = (tp / pp if pp else 1.0), (tp / tt if tt else 1.0)
    f1 = lambda p, r: 2 * p * r / (p + r) if p + r else 0.0  # noqa: E731
    return {
        "bcubed_precision": bp,
        "bcubed_recall": br,
        "bcubed_f1": f1(bp, br),
        "pairwise_precision": pw_p,
        "pairwise_recall": pw_r,
        "pairwise_f1": f1(pw_p, pw_r),
    }


def load_ground_truth(path: str | Path) -> dict:
    """Read a ground-truth file in the schema of the dev footage's ground_truth.json."""
    try:
        gt = json.loads(Path(path).read_text(encoding="utf-8"))
        if not math.isfinite(float(gt["fps"])) or float(gt["fps"]) <= 0:
            raise ValueError(f"fps {gt['fps']!r}")
        frames = {int(round(float(f["time_s"]))): _checked_frame(f) for f in gt["frames"]}
    except FileNotFoundError:
        raise InputError(f"{path}: no such ground-truth file") from None
    except RecursionError:
        raise InputError(f"{path}: not a ground-truth file (nested too deep)") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, OverflowError) as e:
        raise InputError(f"{path}: not a ground-truth file with 'fps' and 'frames' ({e})") from e
    gt["_by_second"] = frames
    return gt


def _checked_frame(frame: dict) -> dict:
    """A ground-truth frame whose faces each have an identity and a box of 4 finite numbers."""
    for face in frame["faces"]:
        if not isinstance(face["identity"], str):
            raise ValueError(f"identity {face['identity']!r} at {frame['time_s']} s")
        box = [float(v) for v in face["box"]]
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise ValueError(f"box {face['box']!r} at {frame['time_s']} s")
    return frame


@dataclass(frozen=True)
class Scores(DictAccess):
    """A run's faces against ground truth: detection, and clustering of the matched faces
    (noise as singletons); e2e_*: every missed face counted as a singleton too."""

    gt_faces: int
    matched: int
    false_positives: int
    det_recall: float
    det_precision: float
    identities: int
    clusters: int
    noise_fraction: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    e2e_bcubed_f1: float
    e2e_pairwise_f1: float

    def to_json(self) -> dict:
        return asdict(self)


def evaluate(faces: Sequence[dict], gt: dict, iou: float = MATCH_IOU) -> Scores:
    """Detection recall/precision and clustering scores of predicted faces against ground truth.

    Predictions are assigned to the nearest whole second (within 0.5 s) and matched to the
    ground-truth faces of that second by IoU; ignored faces and `ignore_unmatched` frames are
    handled as the reference score.py does. Noise (-1) counts as singletons; the e2e scores also
    count every missed face as a singleton.
    """
    by_sec = defaultdict(list)
    for f in faces:
        k = int(round(float(f["time_s"])))
        if abs(float(f["time_s"]) - k) <= 0.5 and k in gt["_by_second"]:
            by_sec[k].append(f)
    n_gt = n_match = n_fp = 0
    true, pred, missed, clusters = [], [], [], set()
    for k, frame in gt["_by_second"].items():
        gts = [g for g in frame["faces"] if not g.get("ignore")]
        ign = [g for g in frame["faces"] if g.get("ignore")]
        preds = by_sec.get(k, [])
        m = match_boxes([g["box"] for g in gts], [p["box"] for p in preds], iou)
        used = {j for _, j in m}
        rest = [j for j in range(len(preds)) if j not in used]
        dropped = {
            rest[j]
            for _, j in match_boxes([g["box"] for g in ign], [preds[j]["box"] for j in rest], iou)
        }
        counted = len(preds) - len(dropped)
        n_gt += len(gts)
        n_match += len(m)
        n_fp += 0 if frame.get("ignore_unmatched") else counted - len(m)
        matched_gt = {i for i, _ in m}
        for i, j in m:
            c = int(preds[j].get("cluster", -1))
            true.append(gts[i]["identity"])
            pred.append(c if c >= 0 else ("noise", k, j))
            if c >= 0:
                clusters.add(c)
        missed += [
            (gts[i]["identity"], ("missed", k, i)) for i in range(len(gts)) if i not in matched_gt
        ]
    res: dict = {
        "gt_faces": n_gt,
        "matched": n_match,
        "false_positives": n_fp,
        "det_recall": n_match / n_gt if n_gt else 0.0,
        "det_precision": n_match / (n_match + n_fp) if n_match + n_fp else 0.0,
        "identities": len({t for t in true} | {t for t, _ in missed}),
        "clusters": len(clusters),
        "noise_fraction": sum(isinstance(p, tuple) for p in pred) / len(pred) if pred else 0.0,
    }
    res.update(clustering_scores(true, pred))
    e2e = clustering_scores(true + [t for t, _ in missed], pred + [p for _, p in missed])
    res["e2e_bcubed_f1"] = e2e["bcubed_f1"]
    res["e2e_pairwise_f1"] = e2e["pairwise_f1"]
    return Scores(**res)
