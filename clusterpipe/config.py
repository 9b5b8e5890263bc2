"""Settings as small frozen dataclasses; every default is defined here, once."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace

from .encoders import ENCODERS, Encoder
from .errors import ClusterpipeError

DETECTORS = ("mtcnn", "hog", "cnn")
DECODERS = ("pyav", "opencv")
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
class EncodeSettings:
    """Everything that changes which faces and encodings a run computes."""

    fps: float = 1.0
    max_width: int = 700
    max_height: int = 500
    # mtcnn finds 0.965 of dev_hard's faces (hog + the fine pass: 0.868) and all of the real
    # Hamilton clip's (hog: 0.47) for less CPU; see docs in README "Detectors".
    detector: str = "mtcnn"
    upsample: int = 1  # hog/cnn: times the detector upsamples the frame
    # mtcnn: smallest face searched for, in pixels of the detection frame (20: dev_hard's
    # scored faces start at 55 px in 1080p, 20 px at 700x500), and the score a face must reach
    # (O-Net's final probability). dev_hard recall / precision by score: 0.7 0.965 / 0.989,
    # 0.8 0.955 / 0.992, 0.9 0.937 / 1.000; in a real sitcom scene subtitle letters score
    # 0.70-0.92, so 0.8 drops part of them and keeps dev_hard's recall above 0.95.
    min_face: int = 20
    min_score: float = 0.8
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
    encoder: str = "dlib"
    # Which decoders.Decoder samples the frames; both return the same frames, pyav with about
    # half the decode CPU on H.264 with B-frames (bench/decode.py).
    decoder: str = "pyav"

    def __post_init__(self) -> None:
        if not (0 < self.fps <= 120):
            raise ClusterpipeError(f"--fps must be in (0, 120], got {self.fps}")
        if self.max_width < 32 or self.max_height < 32:
            raise ClusterpipeError("--max-size must be at least 32x32")
        if self.detector not in DETECTORS:
            raise ClusterpipeError(f"--detector must be one of {', '.join(DETECTORS)}")
        if self.encoder not in ENCODERS:
            raise ClusterpipeError(f"--encoder must be one of {', '.join(ENCODERS)}")
        if self.decoder not in DECODERS:
            raise ClusterpipeError(f"--decoder must be one of {', '.join(DECODERS)}")
        if not (0 <= self.upsample <= 3):
            raise ClusterpipeError(f"--upsample must be 0..3, got {self.upsample}")
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

    def fingerprint(self) -> str:
        """Short hash of the settings plus the format version; shards carry it."""
        blob = json.dumps({"format": SHARD_FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


ADAPTS = ("none", "tracks")
DLIB_EPS = 0.5  # dlib's documented DBSCAN radius; split and noise distances are set against it
ADAPTED_EPS = 0.95  # radius in an adapted space (unit vectors); see adapt.py


def space_eps(encoder: str, adapt: str = "none") -> float:
    """The default DBSCAN radius of a person space."""
    if adapt != "none":
        return ADAPTED_EPS
    return DLIB_EPS if encoder == "dlib" else Encoder.get(encoder).eps


@dataclass(frozen=True)
class ClusterSettings:
    """How encodings are grouped into people."""

    # DBSCAN radius; None: the space's own (space_eps: dlib 0.5, facenet 0.9, adapted 0.95).
    eps: float | None = None
    min_samples: int = 2
    split_same_frame: bool = True
    tracks: bool = True
    # With tracks: split a cluster made of two tight groups of tracks whose mean encodings are
    # on average farther apart than this (0 = off); see cluster.split_by_tracks.
    split_distance: float = 0.55
    assign_noise: bool = False
    noise_threshold: float = 0.6
    # Adapt the person space to the footage from its tracks before clustering (adapt.py).
    adapt: str = "none"

    def __post_init__(self) -> None:
        if self.eps is not None and not (0 < self.eps < 2):
            raise ClusterpipeError(f"--eps must be in (0, 2), got {self.eps}")
        if self.adapt not in ADAPTS:
            raise ClusterpipeError(f"--adapt must be one of {', '.join(ADAPTS)}")
        if self.min_samples < 1:
            raise ClusterpipeError(f"--min-samples must be >= 1, got {self.min_samples}")
        if not (0 <= self.split_distance < 2):
            raise ClusterpipeError(
                f"--split-distance must be in [0, 2) (0 = off), got {self.split_distance}"
            )

    def in_space(self, encoder: str, adapted: bool = False) -> ClusterSettings:
        """These settings with eps resolved for the space clustered in (adapted or not); the
        split and noise distances, set against dlib's radius, scale with it."""
        space = "tracks" if adapted else "none"
        eps = self.eps if self.eps is not None else space_eps(encoder, space)
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
    segment_seconds: float = 30.0
    fresh: bool = False
    progress: bool = True
    engine: str = "local"
    address: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ClusterpipeError(f"--workers must be >= 1, got {self.workers}")
        if self.segment_seconds <= 0:
            raise ClusterpipeError("--segment-seconds must be > 0")


SHARD_FORMAT = 6  # 2: crops cut by the workers; 3: frame signatures; 4: fine pass;
# 5: encodings from the frame shrunk to the encoding size; 6: detector landmarks and scores,
# extra encoders' vectors in a .vectors.npy beside the shard
