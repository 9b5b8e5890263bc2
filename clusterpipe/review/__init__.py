"""`clusterpipe review OUT`: a local page over a run's folders to rename, merge, split, move and
reject faces; every action is a change of the files under OUT."""

from __future__ import annotations

from .server import ReviewServer
from .state import Review

__all__ = ["Review", "ReviewServer"]
