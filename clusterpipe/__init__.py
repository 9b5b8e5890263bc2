"""clusterpipe: turn raw video footage into labelled face datasets."""

__version__ = "0.1.0"

from .config import ClusterSettings, EncodeSettings, RunSettings  # noqa: E402
from .errors import ClusterpipeError  # noqa: E402


def run(*args, **kwargs):
    """Run the whole pipeline (see clusterpipe.api.run)."""
    from .api import run as _run

    return _run(*args, **kwargs)


def evaluate_run(*args, **kwargs):
    """Score a run against ground truth (see clusterpipe.api.evaluate_run)."""
    from .api import evaluate_run as _evaluate_run

    return _evaluate_run(*args, **kwargs)


__all__ = [
    "ClusterSettings",
    "ClusterpipeError",
    "EncodeSettings",
    "RunSettings",
    "run",
    "evaluate_run",
    "__version__",
]
