"""clusterpipe: turn raw video footage into labelled face datasets.

The public API, usable from a notebook; each CLI command is one call into it:
`run`, `evaluate_run`, `tune`, `status`, `promote`, `identify`, `split`, `recluster`, and
`clusterpipe.export.export` (a subpackage, so not re-exported under the same name); the
records they return (`RunResult`, `Scores`, ...) and `DaskEngine`.
"""

from importlib.metadata import PackageNotFoundError, version

from .config import ClusterSettings, EncodeSettings, RunSettings
from .errors import ClusterpipeError

try:  # pyproject.toml is the one source of the version
    __version__ = version("clusterpipe")
except PackageNotFoundError:  # pragma: no cover - run from a source tree, not installed
    __version__ = "0+unknown"

_API = {
    "run": "api",
    "evaluate_run": "api",
    "tune": "api",
    "status": "people.status",
    "promote": "gallery.promote",
    "identify": "gallery.identify",
    "split": "people.repair",
    "recluster": "people.repair",
    # what they return, and an engine of your own
    "RunResult": "api",
    "Scores": "evaluate.metrics",
    "TuneRow": "evaluate.tune",
    "Status": "people.status",
    "PromoteResult": "gallery.promote",
    "Identified": "gallery.identify",
    "SplitResult": "people.repair",
    "ReclusterResult": "people.repair",
    "ExportResult": "export",
    "DaskEngine": "engines.dask_engine",
}


def __getattr__(name: str):
    # Heavy modules (dlib, FAISS, scikit-learn) load on first use, not on `import clusterpipe`.
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'clusterpipe' has no attribute {name!r}")


__all__ = [
    "ClusterSettings",
    "ClusterpipeError",
    "EncodeSettings",
    "RunSettings",
    "__version__",
    *_API,
]
