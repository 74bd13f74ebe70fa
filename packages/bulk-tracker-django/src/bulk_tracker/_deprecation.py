"""Module-level names served with a ``DeprecationWarning``, for the modules kept from 0.2.1."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any


def deprecated_names(module: str, names: dict[str, tuple[Any, str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``names`` (``{name: (object, what to use instead)}``) with a warning."""

    def module_getattr(name: str) -> Any:
        if name in names:
            value, instead = names[name]
            warnings.warn(instead, DeprecationWarning, stacklevel=2)
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return module_getattr
