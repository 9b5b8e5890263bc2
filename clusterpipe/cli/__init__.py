"""The command line: a thin click layer over the Python API, one module per command family
(run; evaluate and tune; the human loop), on one group that maps errors to exit codes."""

from __future__ import annotations

from . import people, repair, review, run, scores
from .group import cli

__all__ = ["cli", "main", "people", "repair", "review", "run", "scores"]


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="clusterpipe")
