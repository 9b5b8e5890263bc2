"""Named alternatives (detectors, encoders, decoders, engines, export formats): a base class
plus a name registry."""

from __future__ import annotations

from typing import ClassVar, TypeVar, cast

from .errors import ClusterpipeError

T = TypeVar("T", bound="Registered")


class Registered:
    """A class that defines `registry = {}` is a base; its subclasses register by `name`."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "choice"  # what the base's alternatives are called in messages
    registry: ClassVar[dict[str, type]] = {}

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        if "registry" not in cls.__dict__:
            cls.registry[cls.name] = cls

    @classmethod
    def get(cls: type[T], name: str) -> type[T]:
        """The class registered under `name`; a one-line error listing the choices if none."""
        try:
            return cast("type[T]", cls.registry[name])
        except KeyError:
            raise ClusterpipeError(
                f"unknown {cls.kind} {name!r}; choose one of {', '.join(cls.registry)}"
            ) from None
