"""clusterpipe: turn raw video footage into labelled face datasets.

The public API, usable from a notebook; each CLI command is one call into it:
`run`, `evaluate_run`, `tune`, `status`, `promote`, `identify`, and
`clusterpipe.export.export` (a subpackage, so not re-exported under the same name).
"""

__version__ = "0.1.0"

from .config import ClusterSettings, EncodeSettings, RunSettings  # noqa: E402
from .errors import ClusterpipeError  # noqa: E402

_API = {
    "run": "api",
    "evaluate_run": "api",
    "tune": "api",
    "status": "people",
    "promote": "people",
    "identify": "people",
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
