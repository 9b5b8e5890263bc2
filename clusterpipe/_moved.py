"""Import paths from before the stage packages (0.2): they keep working for one release, with a
DeprecationWarning that names the new place, and are removed in the next."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping


def lazy(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A package's __getattr__: each name loaded from its module on first use (no warning)."""

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    return __getattr__


def moved(old: str, *new: str) -> Callable[[str], object]:
    """An old module's __getattr__: each name from the first new module that has it, with a
    DeprecationWarning."""

    def __getattr__(name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        for target in new:
            module = importlib.import_module(target)
            if hasattr(module, name):
                warnings.warn(
                    f"{old} is deprecated and will be removed in the next release; import "
                    f"{name} from {target}",
                    DeprecationWarning,
                    stacklevel=2,
                )
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    return __getattr__


class DictAccess:
    """Results that were dicts in 0.2: `result["key"]` still reads `result.key` for one
    release, with a DeprecationWarning."""

    def __getitem__(self, key: str) -> object:
        warnings.warn(
            f"{type(self).__name__}[{key!r}] is deprecated and will be removed in the next "
            f"release; use .{key}",
            DeprecationWarning,
            stacklevel=2,
        )
        for source in (self, getattr(self, "scores", None)):
            if source is not None and hasattr(source, key):
                return getattr(source, key)
        raise KeyError(key)
