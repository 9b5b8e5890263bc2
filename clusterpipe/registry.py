"""Named alternatives (detectors, engines, export formats): a base class plus a name registry."""

from __future__ import annotations

from typing import ClassVar


class Registered:
    """A class that defines `registry = {}` is a base; its subclasses register by `name`."""

    name: ClassVar[str] = ""
    registry: ClassVar[dict[str, type]] = {}

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        if "registry" not in cls.__dict__:
            cls.registry[cls.name] = cls
