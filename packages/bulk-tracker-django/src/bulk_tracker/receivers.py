"""Receivers for the fields they care about: ``post_update_signal.connect(r, sender=Book, fields={"price"})``.

A receiver connected with ``fields=`` (and/or ``ignore=``) is connected through a small wrapper that
calls it with only the rows where a field it watches changed, and not at all when there is none.
The wrapper is keyed as the receiver itself would be, so ``disconnect(receiver, sender)`` finds it,
and it lives exactly as long as the receiver (``weak=True``: Django's weak reference is to the
wrapper, which is kept alive by the receiver).

:func:`wants_fields` tells an operation, before it reads anything, whether any receiver cares about
the fields it writes: when none does, the write is Django's own.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.dispatch import Signal
from django.dispatch.dispatcher import _make_id
from django.utils.inspect import func_accepts_kwargs


@dataclass(frozen=True)
class FieldFilter:
    """Which changed fields count for one receiver: any of ``fields`` (all when None), none of ``ignore``."""

    fields: frozenset[str] | None
    ignore: frozenset[str]
    _keys: weakref.WeakKeyDictionary[type[models.Model], frozenset[str]] = field(
        default_factory=weakref.WeakKeyDictionary, compare=False, repr=False
    )

    def keys(self, model: type[models.Model]) -> frozenset[str]:
        """The ``changed_values`` keys of ``model`` that count: each field's name and attname."""
        keys = self._keys.get(model)
        if keys is None:
            counted = set()
            for f in [*model._meta.concrete_fields, *model._meta.many_to_many]:
                names = {f.name, f.attname} | ({"pk"} if f.primary_key else set())
                if (self.fields is None or not names.isdisjoint(self.fields)) and names.isdisjoint(self.ignore):
                    counted |= names
            keys = self._keys[model] = frozenset(counted)
        return keys

    def pick(self, model: type[models.Model], objects: list[Any]) -> list[Any]:
        """The objects with a counted change, in order."""
        keys = self.keys(model)
        return [obj for obj in objects if not keys.isdisjoint(obj.changed_values)]


def connect_filtered(
    signal: Signal,
    receiver: Callable[..., Any],
    sender: Any,
    weak: bool,
    dispatch_uid: Any,
    fields: Iterable[str] | None,
    ignore: Iterable[str] | None,
) -> None:
    """Connect ``receiver`` to ``signal`` so that it gets only the rows with a counted change."""
    if settings.configured and settings.DEBUG:  # as Django checks the receivers it connects
        if not callable(receiver):
            raise TypeError("Signal receivers must be callable.")
        if not func_accepts_kwargs(receiver):
            raise ValueError("Signal receivers must accept keyword arguments (**kwargs).")
    spec = FieldFilter(_names("fields", fields), _names("ignore", ignore) or frozenset())
    if isinstance(sender, type) and issubclass(sender, models.Model):
        _check_names(sender, spec)
    # Keyed as the receiver would be: disconnect(receiver, sender) finds the wrapper.
    key = dispatch_uid or _make_id(receiver)
    if _connected(signal, (key, _make_id(sender))) is not None:
        return  # as Django ignores a second connect of one receiver and sender
    wrapper = _wrapper(receiver, spec, weak)
    if weak:  # the wrapper lives as long as the receiver (by identity: the owner need not be hashable)
        owner = receiver.__self__ if inspect.ismethod(receiver) else receiver
        wrapper.bulk_tracker_keeper = weakref.finalize(owner, _released, wrapper)  # type: ignore[attr-defined]
    Signal.connect(signal, wrapper, sender=sender, weak=weak, dispatch_uid=key)


@contextmanager
def releasing_filtered(signal: Signal, receiver: Any, sender: Any, dispatch_uid: Any) -> Iterator[None]:
    """Around ``disconnect()``: the wrapper connected under that key, if one of ours, is let go of after it."""
    key = dispatch_uid or _make_id(receiver)
    wrapper = _connected(signal, (key, _make_id(sender)))  # alive until Django has removed it
    yield
    keeper = getattr(wrapper, "bulk_tracker_keeper", None)
    if keeper is not None:
        keeper.detach()


def _connected(signal: Signal, lookup_key: Any) -> Any:
    """The receiver connected under Django's ``lookup_key``, dereferenced; None if none is."""
    for entry in signal.receivers:
        if entry[0] == lookup_key:
            target = entry[1]
            return target() if isinstance(target, weakref.ReferenceType) else target
    return None


def _released(wrapper: Any) -> None:
    """The receiver is gone: nothing to do, the wrapper it kept alive goes with it."""


def wants_fields(signal: Signal, model: type[models.Model], written: Iterable[str]) -> bool:
    """True when a live receiver of ``signal`` for ``model`` counts a change of one of ``written`` (names)."""
    names = set()
    for name in written:
        names.add(name)
        try:
            f = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        names.update(n for n in (f.name, getattr(f, "attname", None)) if n)
    for receiver in live_receivers(signal, model):
        spec = getattr(receiver, "bulk_tracker_filter", None)
        if spec is None or not spec.keys(model).isdisjoint(names):
            return True
    return False


def live_receivers(signal: Signal, sender: Any) -> list[Any]:
    """The receivers ``signal.send(sender)`` would call now, sync and async (Django's own resolution)."""
    live = signal._live_receivers(sender)  # Django 5.0+: (sync, async); 4.2: one list
    return [*live[0], *live[1]] if isinstance(live, tuple) else list(live)


def _names(argument: str, names: Iterable[str] | None) -> frozenset[str] | None:
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Collection):
        raise TypeError(f"{argument}= takes a collection of field names, such as {{'price'}}; got {names!r}.")
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"{argument}= takes field names (str); got {sorted(map(repr, names))}.")
    if argument == "fields" and not names:
        raise ValueError("fields= names no field: such a receiver would never be called.")
    return frozenset(names)


def _check_names(model: type[models.Model], spec: FieldFilter) -> None:
    """Each name a concrete field of ``model`` (by name, attname or ``pk``)."""
    opts = model._meta
    known = {"pk"} | {n for f in [*opts.concrete_fields, *opts.many_to_many] for n in (f.name, f.attname)}
    unknown = sorted((spec.fields or frozenset()) - known) + sorted(spec.ignore - known)
    if unknown:
        raise ValueError(
            f"{model._meta.label} has no concrete or many-to-many field named {', '.join(map(repr, unknown))}."
        )


def _wrapper(receiver: Callable[..., Any], spec: FieldFilter, weak: bool) -> Callable[..., Any]:
    """A function calling ``receiver`` with only the counted rows, async when ``receiver`` is."""
    if weak:
        ref: Callable[[], Any] = (weakref.WeakMethod if inspect.ismethod(receiver) else weakref.ref)(receiver)
    else:
        ref = lambda: receiver  # noqa: E731

    def picked(sender: Any, objects: list[Any]) -> tuple[Any, list[Any]]:
        target = ref()
        return target, spec.pick(sender, objects) if target is not None else []

    if inspect.iscoroutinefunction(receiver):

        async def filtered_async(sender: Any, objects: list[Any], **kwargs: Any) -> Any:
            target, rows = picked(sender, objects)
            return await target(sender=sender, objects=rows, **kwargs) if rows else None

        wrapper: Callable[..., Any] = filtered_async
    else:

        def filtered(sender: Any, objects: list[Any], **kwargs: Any) -> Any:
            target, rows = picked(sender, objects)
            return target(sender=sender, objects=rows, **kwargs) if rows else None

        wrapper = filtered
    wrapper.bulk_tracker_filter = spec  # type: ignore[attr-defined]
    wrapper.__qualname__ = f"filtered({getattr(receiver, '__qualname__', receiver)!s})"
    return wrapper
