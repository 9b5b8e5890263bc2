"""A scripted user answers the review page's "same person?" questions from ground truth.

For each run (a finished OUT and its ground truth), it asks up to --max questions through the
same code the page and `clusterpipe ask` use, answers each truthfully (the majority identity of
each side's faces), and scores the folders after every answer (BCubed F1 of the faces matched
to ground truth, noise as singletons). Prints the answers needed to reach F1 >= 0.98 and writes
a plot of F1 against answers.

    .venv/bin/python bench/ask.py OUT GROUND_TRUTH.json [OUT GT ...] --plot docs/ask.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clusterpipe.review.scripted import TARGET, scripted


def plot(curves: dict[str, list[float]], path: Path) -> None:
    """F1 against answers, one line per run, as a PNG (drawn with OpenCV)."""
    w, h, m = 720, 420, 50
    img = np.full((h, w, 3), 255, np.uint8)
    n = max(len(c) for c in curves.values()) - 1 or 1
    lo = min(min(c) for c in curves.values())
    lo = min(lo, 0.8)
    x = lambda k: int(m + k * (w - 2 * m) / n)  # noqa: E731
    y = lambda f: int(h - m - (f - lo) / (1 - lo) * (h - 2 * m))  # noqa: E731
    cv2.rectangle(img, (m, m), (w - m, h - m), (0, 0, 0), 1)
    cv2.line(img, (m, y(TARGET)), (w - m, y(TARGET)), (150, 150, 150), 1)
    cv2.putText(img, f"F1 {TARGET}", (w - m - 70, y(TARGET) - 4), 0, 0.4, (100, 100, 100), 1)
    colours = [(200, 80, 30), (30, 140, 30), (30, 30, 200), (160, 30, 160), (0, 130, 160)]
    for k, (name, c) in enumerate(curves.items()):
        pts = np.array([(x(i), y(f)) for i, f in enumerate(c)], np.int32)
        cv2.polylines(img, [pts], False, colours[k % len(colours)], 2)
        cv2.putText(img, name, (m + 8, m + 18 + 16 * k), 0, 0.45, colours[k % len(colours)], 1)
    cv2.putText(img, "answers", (w // 2 - 30, h - 15), 0, 0.5, (0, 0, 0), 1)
    cv2.putText(img, f"{lo:.2f}", (5, h - m), 0, 0.4, (0, 0, 0), 1)
    cv2.putText(img, "1.00", (5, m + 5), 0, 0.4, (0, 0, 0), 1)
    cv2.putText(img, str(n), (w - m - 10, h - m + 15), 0, 0.4, (0, 0, 0), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", help="OUT GROUND_TRUTH.json, repeated")
    ap.add_argument("--max", type=int, default=30, help="answers per run")
    ap.add_argument("--plot", type=Path, help="write F1 against answers here (PNG)")
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("give OUT and GROUND_TRUTH.json in pairs")
    curves = {}
    print("| run | F1 before | F1 after | answers | answers to F1 >= 0.98 | next question, max s |")
    print("|---|---|---|---|---|---|")
    for out, gt in zip(args.pairs[::2], args.pairs[1::2]):
        scores, waits = scripted(Path(out), Path(gt), args.max)
        reach = next((k for k, f in enumerate(scores) if f >= TARGET), None)
        name = Path(out).name
        curves[name] = scores
        print(
            f"| {name} | {scores[0]:.3f} | {scores[-1]:.3f} | {len(scores) - 1} | "
            f"{'not reached' if reach is None else reach} | {max(waits):.3f} |"
        )
    if args.plot:
        plot(curves, args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
