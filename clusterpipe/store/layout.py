"""Names of what a run writes in OUT for people to look at (no I/O here)."""

from __future__ import annotations

from .records import SAFE_ID

CLUSTERS_DIR, NOISE_DIR, MONTAGES_DIR = "clusters", "noise", "montages"
REJECTED_DIR = "rejected"  # faces rejected on the review page: out of every folder, restorable
UNNAMED_PREFIX = "Face_"  # clusters/Face_<k>: a person not named yet
# A face's files: its crop (as written, .jpg, or as the user may have re-saved it, in any letter
# case) and its YOLO label; places.face_file is the one rule that reads them.
CROP_SUFFIXES = (".jpg", ".jpeg", ".png")
LABEL_SUFFIX = ".txt"
JPEG_QUALITY = 92  # crops and montages
REPORT_FILE = "report.html"


def cluster_folder(label: int) -> str:
    """Folder name of an unnamed cluster."""
    return f"{UNNAMED_PREFIX}{label}"


def is_unnamed(folder: str) -> bool:
    """True for the generator's Face_<n> folders."""
    return folder.startswith(UNNAMED_PREFIX) and folder[len(UNNAMED_PREFIX) :].isdigit()


def is_generated_file(name: str) -> bool:
    """A crop or its YOLO label as clusterpipe names them: <face id>.jpg / .txt (or a crop the
    user re-saved as .jpeg or .png)."""
    stem, dot, suffix = name.rpartition(".")
    return (
        bool(dot)
        and f".{suffix.lower()}" in (*CROP_SUFFIXES, LABEL_SUFFIX)
        and bool(SAFE_ID.match(stem))
    )


FACES_FILE = "faces.jsonl"


RUN_FILE = "run.json"


VECTORS_FILE = "vectors.npy"  # the extra encoder's vectors, row i = line i of faces.jsonl


SHARDS_DIR = "shards"


LOCK_FILE = ".clusterpipe.lock"


WRITING_FILE = ".clusterpipe-writing"  # while a command rewrites the folders (see store.writing)
