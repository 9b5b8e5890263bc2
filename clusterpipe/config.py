"""Settings as small frozen dataclasses; every default is defined here, once."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .errors import ClusterpipeError

DETECTORS = ("mtcnn", "hog", "cnn")  # detect.Detector's registry; checked in test_layout
DECODERS = ("pyav", "opencv")  # sample.decoders.Decoder's registry; checked in test_layout
DLIB_EPS = 0.5  # dlib's documented DBSCAN radius; split and noise distances are set against it
# FaceNet's best DBSCAN radius, with tracks and the splits: dev 0.85-0.95 (BCubed F1 1.000), the
# Hamilton clip 0.9 (1.000); a sitcom scene's best was 0.74 (issue #19): thresholds in this
# space transfer between footage less well than dlib's.
FACENET_EPS = 0.9
# Each person space's radius: "dlib" (in every record) first, then encode.base's registry of
# extra encoders (checked in test_layout).
SPACE_EPS = {"dlib": DLIB_EPS, "facenet": FACENET_EPS}
ENCODERS = tuple(SPACE_EPS)
ADAPTS = ("auto", "none", "tracks")
# --fast: mtcnn's pyramid starts at 40 px faces instead of 20 (dev_hard: a quarter less CPU,
# detection recall 0.965 -> 0.935 at --min-score 0.7; MTCNN still finds most faces somewhat
# below its minimum).
FAST_MIN_FACE = 40


def default_workers() -> int:
    """Number of encoder processes: one per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Bounds:
    """Allowed values of a number: lo..hi, either end open; NaN never."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def check(self, name: str, value: float) -> None:
        """A one-line ClusterpipeError naming the option if value is out of bounds or NaN."""
        if value is None:
            return
        v = float(value)
        bad = math.isnan(v)
        if self.lo is not None:
            bad |= v <= self.lo if self.lo_open else v < self.lo
        if self.hi is not None:
            bad |= v >= self.hi if self.hi_open else v > self.hi
        if bad:
            lo = "(" if self.lo_open else "["
            hi = ")" if self.hi_open else "]"
            span = f"{lo}{self.lo if self.lo is not None else '-inf'}, "
            span += f"{self.hi if self.hi is not None else 'inf'}{hi}"
            raise ClusterpipeError(f"{option_name(name)} must be in {span}, got {value}")


def option_name(field_name: str) -> str:
    """The command-line option of a settings field."""
    return "--" + field_name.replace("_", "-")


def setting(default: Any, help: str, bounds: Bounds | None = None, choices: tuple = ()) -> Any:
    """A settings field the command line exposes: its default, help, bounds or choices, once."""
    meta = {"help": help, "bounds": bounds, "choices": choices}
    return field(default=default, metadata=meta)


def check_fields(obj: Any) -> None:
    """Validate every bounded or choice field of a settings dataclass (NaN included)."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.metadata.get("bounds"):
            f.metadata["bounds"].check(f.name, value)
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ClusterpipeError(f"{option_name(f.name)} must be one of {', '.join(choices)}")


@dataclass(frozen=True)
class EncodeSettings:
    """Everything that changes which faces and encodings a run computes."""

    fps: float = setting(
        1.0, "Frames sampled per second of video, by timestamp.", Bounds(0, 120, lo_open=True)
    )
    max_width: int = 700
    max_height: int = 500
    # mtcnn finds 0.955 of dev_hard's faces (hog + the fine pass: 0.868) and all of the real
    # Hamilton clip's (hog: 0.47) for less CPU; see README "Detectors".
    detector: str = setting(
        "mtcnn",
        "Face detector: mtcnn (MTCNN cascade on onnxruntime, finds small, rotated, blurred and "
        "dark faces), hog (dlib HOG) or cnn (dlib MMOD, about 40x slower on CPU).",
        choices=DETECTORS,
    )
    upsample: int = setting(
        1,
        "hog/cnn: times the detector upsamples the frame; each step finds smaller faces and "
        "costs about 4x the time.",
        Bounds(0, 3),
    )
    # mtcnn: smallest face searched for, in pixels of the detection frame (20: dev_hard's
    # scored faces start at 55 px in 1080p, 20 px at 700x500), and the score a face must reach
    # (O-Net's final probability). dev_hard recall / precision by score: 0.7 0.965 / 0.989,
    # 0.8 0.955 / 0.992, 0.9 0.937 / 1.000; in a real sitcom scene subtitle letters score
    # 0.70-0.92, so 0.8 drops part of them and keeps dev_hard's recall above 0.95.
    min_face: int = setting(
        20,
        "mtcnn: smallest face searched for, in pixels of the --max-size frame; smaller finds "
        "smaller faces for more CPU.",
        Bounds(8, 1000),
    )
    min_score: float = setting(
        0.8,
        "mtcnn: score a face must reach (0-1); higher invents fewer faces (e.g. in subtitles) "
        "and misses more.",
        Bounds(0, 1, hi_open=True),
    )
    # A second, finer detection pass on the frame shrunk to fit this size (0 = off), for faces
    # too small for the 700x500 pass; skipped where the original is not much larger than that.
    # Off by default: mtcnn's pyramid reaches 20 px faces at 700x500 (dev_hard: the pass adds
    # recall 0.965 -> 0.968, costs precision 0.989 -> 0.946 and 55 % more wall time). It was
    # hog's way to small faces (recall 0.59 -> 0.87).
    fine_width: int = 0
    fine_height: int = 0
    # Faces are encoded from the frame shrunk to fit this size: sharper than the 700x500 frame,
    # while the area filter still averages away the noise and compression artefacts of 1080p
    # and up (dev_hard: e2e BCubed F1 0.864 from 1280x720, 0.844 from 1080p, 0.853 before).
    encode_width: int = 1280
    encode_height: int = 720
    # The person space clustered in besides dlib's 128-d encoding, which every record keeps:
    # "dlib" (only that) or an encoders.Encoder whose vectors go to OUT/vectors.npy.
    encoder: str = setting(
        "dlib",
        "Person space to cluster in: dlib (128-d, always in faces.jsonl) or facenet (FaceNet "
        "512-d, also computed, kept in OUT/vectors.npy; about 0.5x dlib's CPU per face more).",
        choices=ENCODERS,
    )
    # Both decoders return the same frames, pyav with about half the decode CPU on H.264 with
    # B-frames (bench/decode.py).
    decoder: str = setting(
        "pyav",
        "Video decoder; both sample the same frames. pyav skips the frames no sample needs "
        "(about half the decoding CPU on H.264 with B-frames); opencv decodes every frame.",
        choices=DECODERS,
    )

    def __post_init__(self) -> None:
        check_fields(self)
        if self.max_width < 32 or self.max_height < 32:
            raise ClusterpipeError("--max-size must be at least 32x32")
        if self.encode_width < self.max_width or self.encode_height < self.max_height:
            raise ClusterpipeError("the encoding size must be at least --max-size")
        if (self.fine_width or self.fine_height) and (
            self.fine_width < self.max_width or self.fine_height < self.max_height
        ):
            raise ClusterpipeError("--fine-size must be larger than --max-size (or 0 for off)")

    @property
    def fine(self) -> bool:
        """Whether the finer second pass is on."""
        return bool(self.fine_width and self.fine_height)


# Radius in an adapted space where no calibration is at hand (tune scales its grid by it);
# runs calibrate it on the footage (calibrate.py).
ADAPTED_EPS = 0.95
ENGINES = ("local", "dask")  # engines.Engine's registry; checked in test_layout


def space_eps(encoder: str, adapt: str = "none") -> float:
    """The default DBSCAN radius of a person space."""
    if adapt != "none":
        return ADAPTED_EPS
    if encoder not in SPACE_EPS:
        raise ClusterpipeError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    return SPACE_EPS[encoder]


@dataclass(frozen=True)
class ClusterSettings:
    """How encodings are grouped into people."""

    # Adapt the person space to the footage from its tracks before clustering (adapt.py), where
    # the footage supports it (calibrate.py).
    adapt: str = setting(
        "auto",
        "auto: whiten the person space by how faces vary within their tracks in this footage "
        "(unsupervised, per run) when the tracks change shape as real faces do, and keep the "
        "raw space for still photos and static heads; tracks: whenever there are enough "
        "tracks; none: cluster as encoded. run.json and the report say which and why.",
        choices=ADAPTS,
    )
    # None: the space's own radius (dlib 0.5, facenet 0.9), or for an adapted space the one
    # calibrated from the footage's tracks and frames (calibrate.py).
    eps: float | None = setting(
        None,
        f"DBSCAN radius; smaller splits people more. Default: the space's own, {DLIB_EPS} "
        f"for dlib, {FACENET_EPS} for facenet, or calibrated on the footage when the space "
        "is adapted.",
        Bounds(0, 2, True, True),
    )
    min_samples: int = setting(
        2,
        "DBSCAN: faces needed to found a cluster; fewer leaves less noise, more makes clusters "
        "stricter.",
        Bounds(1),
    )
    split_same_frame: bool = setting(
        True,
        "Split a cluster that holds two clearly different faces of one frame (two faces in "
        "one frame are almost always two people).",
    )
    tracks: bool = setting(
        True,
        "Link a face across consecutive samples of one shot (overlapping boxes, close "
        "encodings, no cut between) and keep each track in one cluster.",
    )
    # See cluster.split_by_tracks. Measured with the defaults on finished runs (e2e BCubed F1):
    # 0.55 split one speaker of real_dev's quad clip in two (0.970; 1.000 from 0.57 on), 0.59
    # and above leave a look-alike pair of dev together (1.000 -> 0.972); dev_hard, real_hard,
    # the cuts clip and Hamilton do not move between 0.55 and 0.58. A narrow window: the middle.
    split_distance: float = setting(
        0.575,
        "With --tracks: split a cluster made of two tight groups of tracks whose mean "
        "encodings are on average farther apart than this (look-alikes DBSCAN chained); 0 = "
        "off. Set for dlib; it scales with the default radius of other spaces.",
        Bounds(0, 2, hi_open=True),
    )
    assign_noise: bool = setting(
        False,
        "Attach each noise face to the cluster of its nearest clustered face when that is "
        "within --noise-threshold.",
    )
    noise_threshold: float = setting(
        0.6,
        "With --assign-noise: largest distance at which a noise face is attached.",
        Bounds(0, 4, lo_open=True),
    )

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def radius(self) -> float:
        """eps, once in_space has resolved it."""
        if self.eps is None:
            raise ValueError("eps is not resolved yet: call in_space first")
        return self.eps

    def in_space(
        self, encoder: str, adapted: bool = False, calibrated: float | None = None
    ) -> ClusterSettings:
        """These settings with eps resolved for the space clustered in (adapted or not, with
        the radius calibrated on the footage if any); the split and noise distances, set
        against dlib's radius, scale with it. An explicit eps wins."""
        space = "tracks" if adapted else "none"
        default = calibrated if calibrated is not None else space_eps(encoder, space)
        eps = self.eps if self.eps is not None else default
        k = eps / DLIB_EPS if self.eps is None else 1.0
        return replace(
            self,
            eps=eps,
            split_distance=self.split_distance * k,
            noise_threshold=self.noise_threshold * k,
        )


@dataclass(frozen=True)
class RunSettings:
    """A whole `clusterpipe run`."""

    encode: EncodeSettings = field(default_factory=EncodeSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    workers: int = field(default_factory=default_workers)
    segment_seconds: float = setting(
        30.0, "Seconds of video per JSON shard, the unit of resume.", Bounds(0.5, 86400)
    )
    fresh: bool = False
    progress: bool = True
    engine: str = setting(
        "local",
        "local: processes on this machine; dask: Dask distributed, one task per segment "
        "(pip install 'clusterpipe[dask]').",
        choices=ENGINES,
    )
    address: str | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        if self.workers < 1:
            raise ClusterpipeError(f"--workers must be >= 1, got {self.workers}")
        if self.address is not None and self.engine != "dask":
            raise ClusterpipeError("--address needs --engine dask (a Dask scheduler's address)")

    def shard_settings(self) -> dict:
        """What decides which faces a shard holds: the encoding settings and how the work is
        cut into segments. Finished shards are reused only under the same ones."""
        return {**asdict(self.encode), "segment_seconds": self.segment_seconds}

    def shard_fingerprint(self) -> str:
        """Short hash of shard_settings plus the format version; shards carry it."""
        blob = json.dumps({"format": SHARD_FORMAT, **self.shard_settings()}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


IMAGE_KINDS = ("crops", "aligned", "frames")  # what an export can write; each format takes some


@dataclass(frozen=True)
class ExportSettings:
    """How `clusterpipe export` writes a dataset (the format aside)."""

    val_fraction: float = setting(
        0.2,
        "Share of the images put in the val split (0: no split), by whole shots (10 s time "
        "blocks where the run's shards are gone), so that val never holds a near-duplicate of "
        "a train image; every person seen in two shots or more is on both sides.",
        Bounds(0, 1, hi_open=True),
    )
    images: str = setting(
        "crops",
        "crops: the portrait crops; aligned (imagefolder): each face aligned by its 5 "
        "landmarks to the standard 112x112 template that face-recognition trainers expect "
        "(InsightFace's), as PNG; frames (yolo, coco): the sampled frames at their original "
        "size with every face labelled, named people by class and the others as the extra "
        "class `face` (decodes the run's videos again).",
        choices=IMAGE_KINDS,
    )
    single_class: bool = setting(
        False,
        "With --images frames: label every face as the one class `face` (refused with crops, "
        "where every image is one person).",
    )
    min_faces: int = setting(
        1,
        "Leave out people with fewer faces than this (counting every face in their folder); "
        "with --images frames their faces stay labelled as the class `face`.",
        Bounds(1),
    )
    seed: int = setting(0, "Seed of the train/val split, so it can be reproduced.")
    backgrounds: float = setting(
        0.1,
        "With --images frames: face-free sampled frames to add, as a share of the frames with "
        "faces (Ultralytics suggests up to a tenth, against false positives); 0 = none.",
        Bounds(0, 1),
    )
    min_box: int = setting(
        0,
        "Faces narrower than this many pixels (in the original frame) are not labelled: with "
        "--images frames they are masked grey (an ignore region), with crops left out.",
        Bounds(0, 10000),
    )

    def __post_init__(self) -> None:
        check_fields(self)


INDEXES = ("auto", "flat")  # how a gallery searches (gallery_index.py)
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str, name: str = "size") -> int:
    """Bytes in a size such as 4GB, 512MB, 2GiB or 1e9 (GB is 10**9, as AutoFaiss reads it)."""
    import re

    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgt]?i?b?)\s*", str(text).lower())
    value = float(m.group(1)) * _UNITS.get(m.group(2), 0) if m else 0.0
    size = int(value) if math.isfinite(value) else 0
    if size <= 0:
        raise ClusterpipeError(f"{option_name(name)}: {text!r} is not a size such as 4GB or 512MB")
    return size


@dataclass(frozen=True)
class IndexSettings:
    """How a gallery's FAISS index is chosen: exact, or tuned under a memory and time budget."""

    index: str = setting(
        "auto",
        "auto: exact search while it answers within --max-query-ms and fits --max-index-memory, "
        "above that a compressed index (IVF with 4-bit product codes) chosen and tuned to that "
        "budget, each answer re-checked against the exact vectors kept on disk; "
        "flat: exact search always. The gallery remembers the choice.",
        choices=INDEXES,
    )
    max_index_memory: str = setting(
        "4GB", "Most RAM the gallery's index may take (the exact vectors stay on disk)."
    )
    max_query_ms: float = setting(
        10.0, "Most time one face's search may take, in milliseconds.", Bounds(0, 1e6, lo_open=True)
    )

    def __post_init__(self) -> None:
        check_fields(self)
        parse_size(self.max_index_memory, "max_index_memory")

    @property
    def memory_bytes(self) -> int:
        """max_index_memory in bytes."""
        return parse_size(self.max_index_memory, "max_index_memory")


SHARD_FORMAT = 6  # 2: crops cut by the workers; 3: frame signatures; 4: fine pass;
# 5: encodings from the frame shrunk to the encoding size; 6: detector landmarks and scores,
# extra encoders' vectors in a .vectors.npy beside the shard
