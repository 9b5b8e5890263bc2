"""The review page with many faces: time to first paint, to apply a move and to answer a
"same person?" question, in Debian's
chromium driven by Playwright, on a synthetic run (default 10,000 faces in 120 folders).

usage: python bench/review.py [--faces 10000] [--screenshot PNG] [--run OUT]
With --run, the page is opened on that run instead (a copy of it; the run is not changed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

# tests/helpers.py (synthetic data, browser flags) is beside the package, not in it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synthetic_run(out: Path, n_faces: int, seed: int = 0) -> None:
    """faces.jsonl, run.json and one crop + label per face in 120 folders (12 named)."""
    from clusterpipe.store.files import write_faces
    from clusterpipe.store.records import Face

    rng = np.random.default_rng(seed)
    sizes = rng.lognormal(0, 1.0, 120)  # a few big folders, many small ones
    sizes = np.maximum(1, (sizes / sizes.sum() * n_faces)).astype(int)
    sizes[0] += n_faces - sizes.sum()
    faces, k = [], 0
    for c, n in enumerate(sizes):
        folder = f"person_{c:02d}" if c < 12 else f"Face_{c}"
        centre = rng.normal(size=128)
        centre /= np.linalg.norm(centre)
        d = out / "clusters" / folder
        d.mkdir(parents=True, exist_ok=True)
        img = np.full((96, 72, 3), (40 + 37 * c) % 256, np.uint8)
        cv2.putText(img, str(c), (8, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        jpg = cv2.imencode(".jpg", img)[1].tobytes()
        for _ in range(n):
            fid = f"synth-{k:07d}-0"
            enc = (centre + rng.normal(scale=0.02, size=128)).round(5).tolist()
            faces.append(
                Face(fid, "/videos/synthetic.mp4", k * 30, float(k), (10, 10, 80, 90), enc, c)
            )
            (d / f"{fid}.jpg").write_bytes(jpg)
            (d / f"{fid}.txt").write_text("0 0.5 0.5 0.5 0.5\n")
            k += 1
    write_faces(out / "faces.jsonl", faces)
    (out / "run.json").write_text(json.dumps({"run_id": "synthetic", "inputs": []}))


def state_order(page) -> list[str]:
    """The page's folders, largest first."""
    return page.evaluate(
        "() => [...document.querySelectorAll('section.card')].filter(c => !c.dataset.key"
        ".startsWith('\\0')).sort((a, b) => b.querySelectorAll('img.face').length - "
        "a.querySelectorAll('img.face').length).map(c => c.dataset.key)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=10_000)
    ap.add_argument("--run", type=Path, help="open this run (copied) instead of a synthetic one")
    ap.add_argument("--screenshot", type=Path, help="save a screenshot of the page here")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from clusterpipe.review import ReviewServer
    from tests.helpers import CHROMIUM_FLAGS

    tmp = Path(tempfile.mkdtemp(prefix="bench-review-"))
    try:
        out = tmp / "out"
        t = time.perf_counter()
        if args.run:
            shutil.copytree(args.run, out, ignore=shutil.ignore_patterns("shards", "*.lock"))
        else:
            synthetic_run(out, args.faces)
        print(f"run ready in {time.perf_counter() - t:.1f} s: {out}")
        server = ReviewServer(out, 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=list(CHROMIUM_FLAGS))
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            t = time.perf_counter()
            page.goto(server.url)
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            ready = time.perf_counter() - t
            fcp = page.evaluate(
                "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime"
            )
            print(
                f"first paint (first-contentful-paint): {fcp / 1000:.2f} s; all folders "
                f"shown: {ready:.2f} s"
            )
            if args.screenshot:
                page.wait_for_load_state("networkidle")  # the thumbnails in view
                kind = "jpeg" if args.screenshot.suffix.lower() in (".jpg", ".jpeg") else "png"
                page.screenshot(
                    path=str(args.screenshot), type=kind, quality=80 if kind == "jpeg" else None
                )
                print(f"screenshot: {args.screenshot}")
            key = "person_00" if not args.run else state_order(page)[0]  # the largest folder
            big = page.locator(f"section.card[data-key='{key}']")
            times = []
            for k in range(3):
                faces = big.locator("img.face")
                faces.nth(0).click()
                faces.nth(2).click(modifiers=["Shift"])
                t = time.perf_counter()
                page.fill("#to", f"zz_moved_{k}")
                page.click("#move")
                page.wait_for_selector(f"section.card[data-key='zz_moved_{k}']")
                times.append(time.perf_counter() - t)
            print(
                "apply a move of 3 faces (click to the page updated): "
                + ", ".join(f"{x:.3f}" for x in times)
                + " s"
            )
            # "Same person?": the first question, then answers (different: nothing moves).
            t = time.perf_counter()
            page.keyboard.press("Escape")
            page.keyboard.press("q")
            page.wait_for_function("() => document.getElementById('ask').dataset.qid")
            first = time.perf_counter() - t
            waits = []
            for _ in range(3):
                qid = page.evaluate("document.getElementById('ask').dataset.qid")
                t = time.perf_counter()
                page.keyboard.press("d")
                page.wait_for_function(
                    f"() => document.getElementById('ask').dataset.qid !== {qid!r}",
                    timeout=60_000,
                )
                waits.append(time.perf_counter() - t)
            print(
                f"first question shown: {first:.3f} s; an answer applied and the next question "
                "shown: " + ", ".join(f"{x:.3f}" for x in waits) + " s"
            )
            browser.close()
        t = time.perf_counter()
        state = server.review.snapshot()
        n = sum(len(f["faces"]) for f in state["folders"]) + len(state["noise"])
        print(
            f"GET /api/folders, built in the server: {time.perf_counter() - t:.3f} s "
            f"({n} faces, {len(json.dumps(state)) / 1e6:.1f} MB of JSON; warm)"
        )
        server.shutdown()
        server.server_close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
