"""What one review action changed, so that undo can put it back; and the lock an action holds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..interrupts import whole
from ..store.corrections import CORRECTIONS_FILE, Corrections
from ..store.lock import Lock
from ..store.writing import refuse_if_interrupted

WAIT_SECONDS = 2.0  # for OUT's lock: the page and `ask` on one OUT take turns, not fail


@contextlib.contextmanager
def changing(out: Path) -> Iterator[None]:
    """OUT's lock for an action that changes it, refused while a run stopped halfway through
    writing the folders (the run's next try rewrites them: an edit made now would be lost).
    Ctrl-C waits for the action to end: it is applied whole or not at all."""
    with Lock(out, wait=WAIT_SECONDS), whole():
        refuse_if_interrupted(out)
        yield


@dataclass
class Change:
    """What one action did, so that undo can put it back."""

    action: str
    moves: list[tuple[str, str, str]] = field(default_factory=list)  # (face id, from, to)
    renamed: tuple[str, str] | None = None  # a folder renamed whole: (old, new)
    files: dict[str, bytes | None] = field(default_factory=dict)  # run files before (split...)
    after: dict[str, bytes | None] = field(default_factory=dict)  # and as the action left them
    made: list[str] = field(default_factory=list)  # OUT's folders the action created
    # The correction an answer added ("together" or "apart", the entry, whether the file was
    # there before): undo takes back that entry only, not what another tab or command said since.
    said: tuple[str, list, bool] | None = None
    faces: str | None = None  # faces.jsonl's digest after the action: another command changed it


def say(out: Path, corr: Corrections, kind: str, entry: list) -> tuple[str, list, bool] | None:
    """Add a correction to `corr` (saved by the caller); what undo takes back, or None when an
    equal one was already said (undo must not take that one away)."""
    existed = (Path(out) / CORRECTIONS_FILE).exists()
    return (kind, entry, existed) if corr.add(kind, entry) else None


def take_back(out: Path, kind: str, entry: list, existed: bool = True) -> None:
    """Remove one correction an action added (the first equal entry), leaving the others."""
    corr = Corrections.load(out)
    if not corr.remove(kind, entry):
        return
    if existed or corr.rejected or corr.apart or corr.together:
        corr.save(out)
    else:  # the action made the file and nothing else is in it: no file, as before
        (Path(out) / CORRECTIONS_FILE).unlink(missing_ok=True)
