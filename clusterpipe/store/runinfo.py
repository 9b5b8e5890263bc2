"""What a run leaves beside its shards, read back checked: run.json and OUT/vectors.npy."""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from .atomic import read_json
from .files import read_vectors
from .layout import RUN_FILE, VECTORS_FILE
from .records import Face


def sampling(info: dict) -> tuple[float, str]:
    """The fps and decoder a run sampled its videos with (run.json), to decode a frame again."""
    encode = info.get("settings", {}).get("encode", {})
    return float(encode.get("fps", 1.0)), str(encode.get("decoder", "pyav"))


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


def read_run_info(out: Path) -> dict:
    """OUT/run.json, with the types of every field clusterpipe reads back checked: a one-line
    StoreError naming the file otherwise (it is untrusted input like any file read back)."""
    path = Path(out) / RUN_FILE
    info = read_json(path, "run.json", "delete it, or run again with --fresh")
    problems = []
    if not isinstance(info.get("run_id", ""), str):
        problems.append("run_id is not a string")
    names = info.get("gallery_names", {})
    if not isinstance(names, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in names.items()
    ):
        problems.append("gallery_names is not an object of names")
    if not isinstance(info.get("settings", {}), dict):
        problems.append("settings is not an object")
    inputs = info.get("inputs", [])
    if not isinstance(inputs, list) or not all(
        isinstance(v, dict)
        and isinstance(v.get("path"), str)
        and isinstance(v.get("key", ""), str)
        and all(isinstance(v.get(k), int) for k in ("width", "height"))
        for v in inputs
    ):
        problems.append("inputs is not a list of videos")
    if not isinstance(info.get("vectors") or {}, dict):
        problems.append("vectors is not an object")
    if problems:
        raise StoreError(
            f"{path}: damaged run.json ({'; '.join(problems)}); delete it, or run again "
            "with --fresh"
        )
    return info


def attach_vectors(out: Path, faces: list[Face]) -> str:
    """Give faces read from OUT/faces.jsonl their extra encoder's vectors (OUT/vectors.npy, as
    run.json describes it); return the run's encoder ("dlib" where there is none)."""
    if not (Path(out) / RUN_FILE).exists():  # an older or hand-made folder: dlib's only
        return "dlib"
    meta = read_run_info(out).get("vectors")
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
