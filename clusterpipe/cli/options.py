"""Command-line options built from the settings dataclasses: each setting's name, default,
help, bounds and choices are declared once, on its field (config.setting)."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path

import click

from ..config import FACENET_EPS, Bounds, option_name
from ..gallery.store import DEFAULT_THRESHOLD


def _number_type(kind: type, bounds: Bounds | None):
    if bounds is None:
        return kind
    if kind is int:
        lo, hi = (None if b is None else int(b) for b in (bounds.lo, bounds.hi))
        return click.IntRange(lo, hi, min_open=bounds.lo_open, max_open=bounds.hi_open)
    return click.FloatRange(bounds.lo, bounds.hi, min_open=bounds.lo_open, max_open=bounds.hi_open)


class Finite(click.ParamType):
    """A float in bounds that is not NaN (click's FloatRange lets NaN through)."""

    name = "float"

    def __init__(self, inner) -> None:
        self.inner = inner

    def convert(self, value, param, ctx):
        v = self.inner.convert(value, param, ctx)
        if isinstance(v, float) and math.isnan(v):
            self.fail("must be a number, not nan", param, ctx)
        return v

    def get_metavar(self, param, ctx=None):  # click 8.2 passes ctx
        return self.inner.name.upper()


class ListOf(click.ParamType):
    """Comma-separated values, each checked as `inner` (a sweep's values)."""

    name = "list"

    def __init__(self, inner) -> None:
        self.inner = inner

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        parts = [v.strip() for v in str(value).split(",")]
        if not all(parts):
            self.fail("give comma-separated numbers, e.g. 0.45,0.5", param, ctx)
        return [self.inner.convert(v, param, ctx) for v in parts]

    def get_metavar(self, param, ctx=None):  # click 8.2 passes ctx
        return "A,B,..."


def setting_type(cls, name: str):
    """The click type of settings field `name` of `cls`, with its bounds, as its option has."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    kind = _base_type(typing.get_type_hints(cls)[name])
    numeric = _number_type(kind, f.metadata.get("bounds"))
    return Finite(numeric) if kind is float else numeric


def _base_type(hint) -> type:
    """The type of an annotation, without its `| None`."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def settings_options(cls, skip: tuple[str, ...] = ()):
    """A decorator adding one option per exposed field of settings dataclass `cls`."""
    decorators = []
    hints = typing.get_type_hints(cls)  # the annotations are strings (from __future__)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "help" not in meta or f.name in skip:
            continue
        kind = _base_type(hints[f.name])
        name = option_name(f.name)
        default = f.default
        if kind is bool:
            flag = f"{name}/--no-{name[2:]}"
            opt = click.option(flag, f.name, default=default, show_default=True, help=meta["help"])
        elif meta.get("choices"):
            opt = click.option(
                name,
                f.name,
                type=click.Choice(meta["choices"]),
                default=default,
                show_default=True,
                help=meta["help"],
            )
        else:
            numeric = _number_type(kind, meta.get("bounds"))
            opt = click.option(
                name,
                f.name,
                type=Finite(numeric) if kind is float else numeric,
                default=default,
                show_default=default is not None,
                help=meta["help"],
            )
        decorators.append(opt)

    def apply(fn):
        for d in reversed(decorators):
            fn = d(fn)
        return fn

    return apply


def pop_settings(cls, kwargs: dict, skip: tuple[str, ...] = ()) -> dict:
    """Take the options settings_options(cls) added out of a command's kwargs."""
    return {
        f.name: kwargs.pop(f.name)
        for f in dataclasses.fields(cls)
        if "help" in f.metadata and f.name not in skip
    }


def threshold_option(what: str):
    """--threshold, a gallery's match distance; `what` begins its help."""
    return click.option(
        "--threshold",
        type=Finite(click.FloatRange(0, min_open=True)),
        default=None,
        help=f"{what} Default: the gallery's space's, {DEFAULT_THRESHOLD} for dlib, "
        f"{FACENET_EPS} for facenet.",
    )


def gallery_options(what: str):
    """--gallery and --threshold (declared once: run and recluster); `what` says what the
    gallery names."""

    def add(f):
        f = threshold_option("With --gallery: largest distance that still counts as a match.")(f)
        return click.option(
            "--gallery",
            type=click.Path(path_type=Path),
            default=None,
            help=f"A gallery made by `promote`: {what}",
        )(f)

    return add
