"""The two value objects every receiver sees: what changed, and who changed it."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import MISSING, dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ChangeKind(str, Enum):
    """What an operation did to the rows it reports; equal to its value, so ``ChangeKind.UPDATE == "update"``."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"

    def __str__(self) -> str:
        return self.value


class _Lazily:
    """Where a ModifiedObject keeps what its fields do not: ``pk`` and the builder of its instance.

    Slots, because one object per reported row lives until the receivers have run; ``__dict__`` is
    made only for an attribute someone adds, and ``__weakref__`` keeps the objects weakly referable.
    """

    __slots__ = ("__dict__", "__weakref__", "_build", "pk")
    pk: Any
    _build: Callable[[], Any]


_storing = threading.Lock()  # two threads that built the same instance at once: the first one stored wins


@dataclass(eq=True, slots=True)
class ModifiedObject(_Lazily, Generic[T]):
    """One affected row.

    ``instance`` is the row as it is after the operation; ``changed_values`` maps
    each changed field to its value *before* the operation (empty for creates and
    deletes). ``pk`` is the instance's primary key.

    An adapter that read the row itself may make the object with ``built_on_access()``: the
    instance is then built from the row captured at write time on first access (once, and the same
    object after), so a receiver that reads only ``pk`` and ``changed_values`` never pays for it.
    """

    instance: T
    changed_values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def built_on_access(cls, build: Callable[[], T], changed_values: dict[str, Any], pk: Any) -> ModifiedObject[T]:
        """A ModifiedObject whose ``instance`` is ``build()``, called on first access; ``pk`` is known now."""
        obj = cls.__new__(cls)
        obj.changed_values = changed_values
        obj.pk = pk
        obj._build = build
        return obj

    def __getattr__(self, name: str) -> Any:
        # Only for an attribute not set: the instance of built_on_access() not built yet, and pk.
        if name == "instance":
            try:
                build = object.__getattribute__(self, "_build")
            except AttributeError:
                pass
            else:
                built = build()
                with _storing:
                    with suppress(AttributeError):
                        return object.__getattribute__(self, "instance")  # stored meanwhile by another thread
                    self.instance = built
                    del self._build
                    return built
        elif name == "pk":
            with suppress(AttributeError):
                return object.__getattribute__(self, "instance").pk
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getstate__(self) -> dict[str, Any]:
        """Pickled and copied with its instance built (the builder is local to the operation)."""
        return {"instance": self.instance, "changed_values": self.changed_values, **self.__dict__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"ModifiedObject({self.instance!r}, changed_values={self.changed_values!r})"


@dataclass(eq=True)
class TrackingInfo:
    """Who did an operation and why, delivered to receivers as ``tracking_info_``.

    ``is_robust=True`` makes delivery use ``send_robust``: every receiver runs and
    failures are logged instead of raised.
    """

    user: Any = None
    comment: str | None = None
    reason: str | None = None
    system: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    is_robust: bool = False

    def __post_init__(self) -> None:
        if self.kwargs is None:
            self.kwargs = {}
        elif not isinstance(self.kwargs, dict):
            raise TypeError(f"TrackingInfo.kwargs must be a dict, got {type(self.kwargs).__name__}.")

    def merged_with(self, inner: TrackingInfo) -> TrackingInfo:
        """Return this info overlaid by ``inner``: its set attributes win, ``kwargs`` merge.

        An attribute is set when it differs from its field's default (None for the base fields).
        The result is a copy of the more derived of the two (of ``inner`` when neither is), so a
        subclass and its own fields survive the merge; neither argument is changed.
        """
        outer_is_derived = type(self) is not type(inner) and isinstance(self, type(inner))
        merged = copy.copy(self if outer_is_derived else inner)
        for f in dataclasses.fields(merged):
            if f.name == "kwargs":
                value: Any = {**self.kwargs, **inner.kwargs}
            elif hasattr(inner, f.name) and (_is_set(getattr(inner, f.name), f) or not hasattr(self, f.name)):
                value = getattr(inner, f.name)
            else:
                value = getattr(self, f.name)
            object.__setattr__(merged, f.name, value)
        return merged


def _is_set(value: Any, f: dataclasses.Field[Any]) -> bool:
    """True when ``value`` is not the default of field ``f`` (a field without default is always set)."""
    if f.default is not MISSING:
        default = f.default
    elif f.default_factory is not MISSING:
        default = f.default_factory()
    else:
        return True
    if value is default:
        return False
    return not (type(value) is type(default) and value == default)


def check_tracking_info(value: object) -> TrackingInfo | None:
    """Return ``value`` if it is a TrackingInfo or None, else raise a TypeError saying so."""
    if value is None or isinstance(value, TrackingInfo):
        return value
    raise TypeError(
        f"tracking_info_ must be a bulk_tracker TrackingInfo or None, got {type(value).__name__}: {value!r}."
    )
