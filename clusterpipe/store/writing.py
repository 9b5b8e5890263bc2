"""A mark left in OUT while a command rewrites its folders and faces.jsonl.

The folders and faces.jsonl agree except while clusterpipe rewrites them; a command stopped then
(Ctrl-C, kill -9, a full disk) leaves them apart. Without this mark the next command would read
that difference as the user's own edits (crops deleted, moved) and record it as corrections.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from ..errors import ClusterpipeError
from .atomic import read_json, write_json
from .layout import WRITING_FILE

log = logging.getLogger("clusterpipe")


@contextlib.contextmanager
def writing(out: Path, command: str) -> Iterator[None]:
    """Mark OUT as being rewritten by `command` until the block ends without an error."""
    write_json(Path(out) / WRITING_FILE, {"command": command})
    yield
    done(out)


def interrupted(out: Path) -> str | None:
    """The command stopped while rewriting OUT's folders, if one was."""
    path = Path(out) / WRITING_FILE
    if not path.exists():
        return None
    try:
        command = read_json(path, "mark").get("command")
    except (ClusterpipeError, AttributeError):
        command = None
    return command if command in ("run", "recluster", "split") else "run"


def run_stopped(out: Path) -> bool:
    """Whether a run stopped while writing OUT's folders (then said in the log): the next run
    writes them again instead of reading them as the user's edits."""
    if interrupted(out) != "run":
        return False
    log.warning("%s: the last run stopped while writing the folders; writing them again", out)
    return True


def done(out: Path) -> None:
    """The folders and faces.jsonl agree again: take the mark away."""
    Path(out, WRITING_FILE).unlink(missing_ok=True)


def refuse_if_interrupted(out: Path) -> None:
    """A one-line error while a `run` stopped halfway through writing OUT's folders: its
    crops are only partly there, and only that run can write them again."""
    if interrupted(out) == "run":
        raise ClusterpipeError(
            f"{out}: the last `clusterpipe run` on it stopped while writing its folders; run "
            "the same command again to finish them"
        )
