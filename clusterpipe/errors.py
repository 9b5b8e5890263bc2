"""One error root for everything clusterpipe reports to a user."""

from __future__ import annotations


def not_utf8(name: str) -> str | None:
    """A file name that is not valid UTF-8 (bytes of another encoding, which OpenCV and FAISS
    cannot open), as it can be shown; None for a valid name."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return None


class ClusterpipeError(Exception):
    """A problem the user can act on; the message says what to do."""


class InputError(ClusterpipeError):
    """An input file or folder cannot be used."""


class ModelError(ClusterpipeError):
    """A face model is missing or cannot be loaded."""


class StoreError(ClusterpipeError):
    """The output folder holds something clusterpipe cannot use or must not overwrite."""


class BusyError(StoreError):
    """Another clusterpipe command holds the output folder's lock."""


class WorkerError(ClusterpipeError):
    """A pipeline stage failed or died."""


class GalleryError(ClusterpipeError):
    """The gallery folder is missing, damaged or tampered with."""


class BadNameError(ClusterpipeError):
    """A person's name that cannot be used as a folder or label."""
