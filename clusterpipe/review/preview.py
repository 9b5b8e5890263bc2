"""The review page's large preview of a face: its source frame with the box drawn, decoded on
demand from the run's video (as `export --images frames` does), and its track's other faces."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ClusterpipeError, InputError
from ..store.layout import JPEG_QUALITY
from ..store.runinfo import read_run_info
from .state import Review

MAX_WIDTH = 1280  # the frame is shrunk to fit this width: a preview, not the original


def describe(review: Review, fid: object) -> dict:
    """A face's time, video, frame address and its track's faces (in time order)."""
    review._load()
    if not isinstance(fid, str) or fid not in review.by_id:
        raise ClusterpipeError("unknown face; reload the page")
    k = review.by_id[fid]
    face = review.faces[k]
    tracks = review.tracks
    track = [review.faces[i] for i in np.flatnonzero(tracks == tracks[k]).tolist()]
    track.sort(key=lambda f: f.time_s)
    return {
        "id": fid,
        "video": face.video,
        "time_s": face.time_s,
        "box": list(face.box),
        "frame_url": f"/frame/{fid}",
        "track": [f.id for f in track],
    }


def frame_jpeg(review: Review, fid: str) -> bytes:
    """The face's source frame as JPEG, its box drawn (a 409 with a reason if the video is gone)."""
    from ..sample.video import sample_frames

    review._load()
    if fid not in review.by_id:
        raise ClusterpipeError("unknown face; reload the page")
    face = review.faces[review.by_id[fid]]
    fps, decoder = read_run_info(review.out).sampling()
    image = None
    for s in sample_frames(
        face.video,
        fps,
        start_s=max(0.0, face.time_s - 0.5),
        until=lambda t: t > face.time_s + 0.5,
        decoder=decoder,
    ):
        if s.frame_index == face.frame_index:
            image = s.image
            break
    if image is None:
        raise InputError(f"{face.video}: frame {face.frame_index} could not be decoded again")
    x1, y1, x2, y2 = (int(v) for v in face.box)
    thick = max(2, round(image.shape[1] / 400))
    cv2.rectangle(image, (x1, y1), (x2, y2), (0, 0, 255), thick)
    if image.shape[1] > MAX_WIDTH:
        h = round(image.shape[0] * MAX_WIDTH / image.shape[1])
        image = cv2.resize(image, (MAX_WIDTH, h), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ClusterpipeError("the frame could not be encoded")
    return buf.tobytes()
