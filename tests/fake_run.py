"""A small synthetic run folder (faces.jsonl, run.json, crops in named folders) for loop tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from clusterpipe.detect.boxes import portrait_box
from clusterpipe.store.files import write_faces
from clusterpipe.store.records import Face, VideoInfo
from clusterpipe.store.runinfo import RunInfo, RunInput

FRAME = (640, 360)


def make_run(
    out: Path,
    people: dict[str, int],
    run_id: str = "run1",
    seed: int = 0,
    video: str = "/videos/a.mp4",
) -> dict[str, list[Face]]:
    """People -> number of faces, one face per sampled second, two people per frame when possible.

    Encodings are tight blobs around a random centre per person; crops are real images of the
    portrait size with the face drawn in the person's colour.
    """
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    faces: dict[str, list[Face]] = {}
    t = 0
    all_faces = []
    pair = 0  # faces of the pair (slots 0 and 1) sharing the frames from t on
    for k, (name, n) in enumerate(sorted(people.items())):
        centre = rng.normal(size=128)
        centre *= 1.0 / np.linalg.norm(centre)
        faces[name] = []
        for i in range(n):
            frame_index = (t + i) * 10
            x = 60 + 300 * (k % 2)
            box = (x, 100, x + 80, 180)
            enc = (centre + rng.normal(scale=0.15 / np.sqrt(128), size=128)).round(6).tolist()
            f = Face(
                f"vid-{frame_index:07d}-{k % 2}", video, frame_index, (t + i) * 1.0, box, enc, k
            )
            faces[name].append(f)
        pair = max(pair, n)
        if k % 2 == 1:  # the next pair starts after the longer of the two: ids stay unique
            t, pair = t + pair, 0
    for name, fs in faces.items():
        folder = out / "clusters" / name
        folder.mkdir(parents=True, exist_ok=True)
        for f in fs:
            x1, y1, x2, y2 = portrait_box(f.box, *FRAME)
            img = np.full((y2 - y1, x2 - x1, 3), 90, np.uint8)
            cv2.imwrite(str(folder / f"{f.id}.jpg"), img)
            (folder / f"{f.id}.txt").write_text("0 0.5 0.5 0.5 0.5\n")
            all_faces.append(f)
    write_faces(out / "faces.jsonl", sorted(all_faces, key=lambda f: f.id))
    inputs = [RunInput(VideoInfo(video, "", FRAME[0], FRAME[1], 1.0, t, float(t), 0))]
    RunInfo(run_id=run_id, inputs=inputs).write(out)
    return faces
