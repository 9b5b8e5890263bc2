"""What a run leaves beside its shards, read back checked: run.json and OUT/vectors.npy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import StoreError
from .atomic import read_json, write_json
from .files import read_vectors
from .layout import FACES_FILE, RUN_FILE, VECTORS_FILE
from .records import Face, VideoInfo, VideoStats
from .writing import refuse_if_interrupted


def file_bytes(path: Path) -> bytes | None:
    """A regular file's bytes (not through a link), None where there is none: what undo puts
    back, and a state key for what was computed from the file."""
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


def run_file_bytes(out: Path) -> dict[str, bytes | None]:
    """What split and recluster rewrite besides crops: the run's files, the report and the
    montages (name relative to OUT -> bytes, None where absent), for undo."""
    from .corrections import CORRECTIONS_FILE
    from .layout import FACES_FILE, MONTAGES_DIR, REPORT_FILE

    names = [FACES_FILE, RUN_FILE, CORRECTIONS_FILE, REPORT_FILE]
    montages = Path(out) / MONTAGES_DIR
    if montages.is_dir() and not montages.is_symlink():
        names += [f"{MONTAGES_DIR}/{p.name}" for p in montages.iterdir() if p.is_file()]
    return {name: file_bytes(Path(out) / name) for name in names}


SIZE = ("width", "height")  # an input's fields that must be integers


@dataclass
class RunInput:
    """One video of a run: as probed, and what reading it saw (None: not read by this run)."""

    video: VideoInfo
    read: VideoStats | None = None

    def to_json(self) -> dict:
        return {**asdict(self.video), **(self.read.to_json() if self.read else {})}

    @classmethod
    def from_json(cls, d: object) -> RunInput:
        """ValueError unless it is a video as run.json lists them."""
        if not isinstance(d, dict) or not isinstance(d.get("path"), str):
            raise ValueError("no path")
        if not isinstance(d.get("key", ""), str):
            raise ValueError("key is not a string")
        if not all(isinstance(d.get(k), int) and not isinstance(d.get(k), bool) for k in SIZE):
            raise ValueError("width and height are not integers")
        number = {k: d.get(k, 0) for k in ("fps", "duration_s", "frame_count", "size_bytes")}
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in number.values()):
            raise ValueError("a number is not a number")
        video = VideoInfo(
            d["path"],
            d.get("key", ""),
            d["width"],
            d["height"],
            float(number["fps"]),
            int(number["frame_count"]),
            float(number["duration_s"]),
            int(number["size_bytes"]),
        )
        read = VideoStats.from_json(d) if "error" in d or "last_time_s" in d else None
        return cls(video, read)


@dataclass
class RunInfo:
    """OUT/run.json: what a run was made with and what it did. Written by write() alone;
    read back checked by read_run_info (it is untrusted input like any file read back)."""

    run_id: str = ""
    settings: dict = field(default_factory=dict)  # RunSettings as JSON + shard_fingerprint
    inputs: list[RunInput] = field(default_factory=list)
    failed_inputs: dict[str, str] = field(default_factory=dict)  # path -> why
    gallery: str | None = None
    gallery_names: dict[str, str] = field(default_factory=dict)  # label -> a gallery's name
    folder_names: dict[str, str] = field(default_factory=dict)  # label -> folder (repair loop)
    vectors: dict | None = None  # the extra encoder's vectors.npy: encoder, dim, file
    person_space: dict | None = None  # the space clustered in, and why (calibrate.SpaceChoice)
    versions: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    times_s: dict[str, float] = field(default_factory=dict)
    suggestions: list[str] = field(default_factory=list)  # written by the repair loop

    @property
    def shard_fingerprint(self) -> str:
        return str(self.settings.get("shard_fingerprint", ""))

    def sampling(self) -> tuple[float, str]:
        """The fps and decoder the run sampled its videos with, to decode a frame again."""
        encode = self.settings.get("encode", {})
        return float(encode.get("fps", 1.0)), str(encode.get("decoder", "pyav"))

    def names(self) -> dict[int, str]:
        """Cluster label -> folder name, as the run or the repair loop last wrote them."""
        return {int(k): v for k, v in (self.folder_names or self.gallery_names).items()}

    def to_json(self) -> dict:
        d = {
            "run_id": self.run_id,
            "gallery": self.gallery,
            "gallery_names": self.gallery_names,
            "folder_names": self.folder_names,
            "settings": self.settings,
            "vectors": self.vectors,
            "person_space": self.person_space,
            "versions": self.versions,
            "inputs": [v.to_json() for v in self.inputs],
            "failed_inputs": self.failed_inputs,
            "counts": self.counts,
            "times_s": self.times_s,
            "suggestions": self.suggestions,
        }
        return {k: v for k, v in d.items() if k not in ("folder_names", "suggestions") or v}

    def write(self, out: Path) -> None:
        """Write OUT/run.json atomically."""
        write_json(Path(out) / RUN_FILE, self.to_json())

    @classmethod
    def from_json(cls, d: dict) -> RunInfo:
        """ValueError naming every field that is not what write() writes."""
        problems = []

        def get(key: str, kind, default, check=lambda v: True):
            """d[key] if it is of this kind (None allowed where the default is None)."""
            empty = default() if callable(default) else default
            v = d.get(key)
            if key not in d or (v is None and default is None):
                return empty
            if not isinstance(v, kind) or not check(v):
                problems.append(key)
                return empty
            return v

        texts = lambda v: all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())  # noqa: E731
        labels = lambda v: texts(v) and all(k.lstrip("-").isdigit() for k in v)  # noqa: E731
        numbers = lambda v: all(isinstance(x, int | float) for x in v.values())  # noqa: E731
        inputs = []
        for v in get("inputs", list, list):
            try:
                inputs.append(RunInput.from_json(v))
            except (KeyError, TypeError, ValueError):
                problems.append("inputs")
                break
        info = cls(
            run_id=get("run_id", str, ""),
            settings=get("settings", dict, dict),
            inputs=inputs,
            failed_inputs=get("failed_inputs", dict, dict, texts),
            gallery=get("gallery", str, None),
            gallery_names=get("gallery_names", dict, dict, labels),
            folder_names=get("folder_names", dict, dict, labels),
            vectors=get("vectors", dict, None),
            person_space=get("person_space", dict, None),
            versions=get("versions", dict, dict),
            counts=get("counts", dict, dict, numbers),
            times_s=get("times_s", dict, dict, numbers),
            suggestions=get("suggestions", list, list),
        )
        if problems:
            raise ValueError("; ".join(f"{p} is not what clusterpipe writes" for p in problems))
        return info


def read_run_info(out: Path) -> RunInfo:
    """OUT/run.json, every field checked: a one-line StoreError naming the file otherwise."""
    path = Path(out) / RUN_FILE
    data = read_json(path, "run.json", "delete it, or run again with --fresh")
    try:
        return RunInfo.from_json(data)
    except ValueError as e:
        raise StoreError(
            f"{path}: damaged run.json ({e}); delete it, or run again with --fresh"
        ) from None


def attach_vectors(out: Path, faces: list[Face]) -> str:
    """Give faces read from OUT/faces.jsonl their extra encoder's vectors (OUT/vectors.npy, as
    run.json describes it); return the run's encoder ("dlib" where there is none)."""
    if not (Path(out) / RUN_FILE).exists():  # an older or hand-made folder: dlib's only
        return "dlib"
    info = read_run_info(out)
    counted = info.counts.get("faces") if isinstance(info.counts, dict) else None
    # Fewer faces than counted: emptied or cut short. (More is a run adding faces, stopped
    # before it counted them in run.json.)
    if type(counted) is int and len(faces) < counted:
        refuse_if_interrupted(Path(out))
        raise StoreError(
            f"{Path(out) / FACES_FILE}: damaged ({len(faces)} faces, run.json counts {counted}); "
            "restore it from a backup, or start over with `run --fresh`"
        )
    meta = info.vectors
    if not meta:
        return "dlib"
    path = Path(out) / VECTORS_FILE
    try:
        vec = read_vectors(path, len(faces), int(meta["dim"]))
        encoder = str(meta["encoder"])
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise StoreError(
            f"{path}: damaged or does not match faces.jsonl ({e}); run the same `run` again"
        ) from None
    for f, v in zip(faces, vec):
        f.vector = v
    return encoder
