"""Many-to-many changes, reported as ``post_update_signal`` of the model that declares the field.

Opt in per model: ``bulk_tracker_m2m = ("tags",)`` (or ``"__all__"``) on a tracked model. Then every
``add()``, ``remove()``, ``clear()`` and ``set()`` of that relation, from either side
(``book.tags.add(t)``, ``tag.book_set.add(b)``), is one ``post_update_signal`` call for the declaring
model, after commit, with a ``ModifiedObject`` per row whose related set changed:
``changed_values == {"tags": frozenset(old related pks)}``; the new set is the instance's.

It listens to Django's own ``m2m_changed``: at the first ``pre_*`` of an operation it reads the old
relation of the rows concerned (one statement, in the operation's transaction), and at its ``post_*``
reports the rows whose set changed. ``set()``, which Django makes of a remove and an add, is one
operation: its manager's ``set()`` is wrapped (the one patch here, undone by ``uninstall()``).
A related row's delete removes its through rows with no ``m2m_changed``: ``deletion`` asks
:func:`read_cascaded_relations` before Django deletes. Installed by :mod:`bulk_tracker.registry`.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.db.models.fields.related_descriptors import ManyToManyDescriptor
from django.db.models.signals import m2m_changed
from django.utils.functional import cached_property

from bulk_tracker_core import ModifiedObject, current_tracking_info

from . import registry, rows
from .delivery import deliver, wants
from .signals import post_update_signal

M2M_ATTRIBUTE = "bulk_tracker_m2m"


def tracked_m2m_fields(model: type[models.Model]) -> list[models.ManyToManyField[Any, Any]]:
    """The many-to-many fields of ``model`` whose changes are reported (``bulk_tracker_m2m``)."""
    names = getattr(model, M2M_ATTRIBUTE, ())
    if not names or not registry.is_tracked(model):
        return []
    if isinstance(names, str) and names != "__all__":
        names = (names,)  # check E005 asks for a tuple
    return [f for f in model._meta.many_to_many if names == "__all__" or f.name in names]


@dataclass(eq=False)
class _Change:
    """One operation on one relation: the old related pks of each row concerned, and its current ones."""

    model: type[models.Model]
    field: Any
    using: str
    instance: models.Model | None  # the caller's object, when it is a row of ``model`` (the forward side)
    old: dict[Hashable, frozenset[Any]] = field(default_factory=dict)
    now: dict[Hashable, set[Any]] = field(default_factory=dict)

    def read(self, sources: Iterable[Hashable] | None, target: Any = None) -> list[Hashable]:
        """Read the old relation of ``sources`` not read yet (of every row related to ``target`` if None)."""
        through = self.field.remote_field.through
        source, other = _columns(self.field)
        related = through._base_manager.using(self.using)
        if sources is None:
            wanted = related.filter(**{source: models.OuterRef(source)}).filter(**{other: target})
            pairs = related.filter(models.Exists(wanted))
            found: list[Hashable] = []
        else:
            found = [pk for pk in dict.fromkeys(sources) if pk not in self.old]
            if not found:
                return []
            pairs = related.filter(**{f"{source}__in": found})
        by_source: dict[Hashable, set[Any]] = {pk: set() for pk in found}
        for pk, related_pk in pairs.values_list(source, other):
            by_source.setdefault(pk, set()).add(related_pk)
        for pk, related_pks in by_source.items():
            if pk not in self.old:
                self.old[pk] = frozenset(related_pks)
                self.now[pk] = set(related_pks)
        return list(by_source)

    def apply(self, action: str, instance_pk: Any, reverse: bool, targets: set[Any]) -> None:
        """What a ``post_*`` action of Django's did to the current related pks."""
        if action == "post_clear":
            for pk, related in self.now.items():
                if not reverse and pk == instance_pk:
                    related.clear()
                elif reverse:
                    related.discard(instance_pk)
            return
        adding = action == "post_add"
        if reverse:
            for pk in targets & self.now.keys():
                (self.now[pk].add if adding else self.now[pk].discard)(instance_pk)
        elif adding:
            self.now[instance_pk] |= targets
        else:
            self.now[instance_pk] -= targets

    def objects(self) -> list[ModifiedObject[Any]]:
        """A ModifiedObject per row whose related set changed, in pk order."""
        changed = [pk for pk in rows.pk_sorted(self.old, self.model._meta.pk) if self.old[pk] != self.now[pk]]
        if not changed:
            return []
        # The rows as they are now, read with the write (a later write in the transaction could delete them).
        known = {} if self.instance is None else {self.instance.pk: self.instance}
        missing = [pk for pk in changed if pk not in known]
        found = {**self.model._base_manager.using(self.using).in_bulk(missing), **known} if missing else known
        name = self.field.name
        return [ModifiedObject(found[pk], {name: self.old[pk]}) for pk in changed if pk in found]


def _columns(field: Any) -> tuple[str, str]:
    """The through model's attnames pointing at the declaring model's row and at the related row."""
    source, other = _foreign_keys(field)
    return source.attname, other.attname


def _foreign_keys(field: Any) -> tuple[Any, Any]:
    """The through model's foreign keys to the declaring model and to the related model."""
    opts = field.remote_field.through._meta
    return opts.get_field(field.m2m_field_name()), opts.get_field(field.m2m_reverse_field_name())


def _as_stored(key: Any, values: Iterable[Any]) -> set[Any]:
    """``values`` (Django passes ``remove("3")``'s ids as given) as the through column ``key`` holds them."""
    converted = set()
    for value in values:
        try:
            converted.add(key.target_field.to_python(value))
        except (TypeError, ValueError, ValidationError):
            converted.add(value)  # Django's own error follows
    return converted


# The operation in progress, by through model: set() keeps one open across its remove and add.
_open: ContextVar[dict[Any, _Change] | None] = ContextVar("bulk_tracker_m2m_open", default=None)


def _tracked(sender: Any, instance: models.Model, reverse: bool, model: type[models.Model]) -> Any:
    """The tracked field whose through model is ``sender``, with the declaring model; else None."""
    declaring = model if reverse else type(instance)
    for f in tracked_m2m_fields(declaring):
        if f.remote_field.through is sender:
            return declaring, f
    return None


def _on_m2m_changed(
    sender: Any,
    instance: models.Model,
    action: str,
    reverse: bool,
    model: type[models.Model],
    pk_set: set[Any] | None,
    using: str,
    **kwargs: Any,
) -> None:
    if kwargs.get("raw"):
        return  # fixtures loading (Django 6.1)
    found = _tracked(sender, instance, reverse, model)
    if found is None:
        return
    held = _open.get()
    key = (id(instance), sender)
    source, other = _foreign_keys(found[1])
    given = _as_stored(source if reverse else other, pk_set or ())
    block = _block(using)
    if action.startswith("pre_"):
        change = _opened(held, block, key, found, using, None if reverse else instance)
        if change is None:
            return
        if action == "pre_clear" and reverse:
            change.read(None, instance.pk)
        else:
            change.read(given if reverse else [instance.pk])
        return
    if held is not None:
        change = held.get(sender)
    else:
        change = _pending.get(block, {}).pop(key, None) if block is not None else None
    if change is not None:
        change.apply(action, instance.pk, reverse, given)
        if held is None:
            _report(change)


# A change between its pre_* and post_* signal (outside set()), kept on the innermost atomic block, which
# Django opens for the operation: a change whose operation failed goes with its block.
_pending: weakref.WeakKeyDictionary[Any, dict[tuple[int, Any], _Change]] = weakref.WeakKeyDictionary()


def _block(using: str) -> Any:
    blocks = connections[using].atomic_blocks
    return blocks[-1] if blocks else None


def _opened(
    held: dict[Any, _Change] | None, block: Any, key: tuple[int, Any], found: Any, using: str, instance: Any
) -> _Change | None:
    """The change a ``pre_*`` signal belongs to: set()'s open one, or a new one; None if nobody wants it."""
    if held is not None and key[1] in held:
        return held[key[1]]
    if held is None and block is None:
        return None  # Django sends these inside its atomic block; not there, nothing to pair them with
    declaring, f = found
    if not wants(post_update_signal, declaring, [f.name]):
        return None
    change = _Change(declaring, f, using, instance)
    if held is not None:
        held[key[1]] = change
    else:
        _pending.setdefault(block, {})[key] = change
    return change


def _report(change: _Change) -> None:
    deliver(post_update_signal, change.model, change.objects(), current_tracking_info(), change.using)


@contextmanager
def _one_operation() -> Iterator[None]:
    """Within: each relation's changes are one operation, reported when the block is done."""
    if _open.get() is not None:
        yield
        return
    held: dict[Any, _Change] = {}
    token = _open.set(held)
    try:
        yield
    finally:
        _open.reset(token)
    for change in held.values():
        _report(change)


def _wrapped_set(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def set(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Reported inside the transaction Django makes of set(), as its add() and remove() are.
        using = router.db_for_write(self.through, instance=self.instance)
        with transaction.atomic(using=using, savepoint=False), _one_operation():
            return original(self, *args, **kwargs)

    set.bulk_tracker_original = original  # type: ignore[attr-defined]
    return set


_MANAGER_CLASS = "related_manager_cls"


class M2MPatch:
    """Listens to ``m2m_changed``; the many-to-many managers' ``set()`` is one operation."""

    def __init__(self) -> None:
        self._original: Any = None

    def install(self) -> None:
        """Connect the listener and wrap ``set()`` of the manager classes Django builds from now on."""
        if self._original is not None:
            return
        m2m_changed.connect(_on_m2m_changed, dispatch_uid="bulk_tracker.m2m")
        self._original = ManyToManyDescriptor.__dict__[_MANAGER_CLASS]
        original = self._original

        def related_manager_cls(descriptor: Any) -> Any:
            manager_class = original.func(descriptor)
            return type(manager_class.__name__, (manager_class,), {"set": _wrapped_set(manager_class.set)})

        patched = cached_property(related_manager_cls)
        patched.__set_name__(ManyToManyDescriptor, _MANAGER_CLASS)
        ManyToManyDescriptor.related_manager_cls = patched
        self._forget_cached()

    def uninstall(self) -> None:
        """Disconnect the listener and give back Django's manager classes."""
        if self._original is None:
            return
        m2m_changed.disconnect(dispatch_uid="bulk_tracker.m2m")
        ManyToManyDescriptor.related_manager_cls = self._original
        self._original = None
        self._forget_cached()

    def model_prepared(self, model: type[models.Model]) -> None:
        """Nothing to do: a new model's managers are built on first use."""

    @staticmethod
    def _forget_cached() -> None:
        for model in apps.get_models():
            for value in vars(model).values():
                if isinstance(value, ManyToManyDescriptor):
                    value.__dict__.pop(_MANAGER_CLASS, None)


registry.register_patch(M2MPatch())


# --- a related row's delete: Django cascades to the through table without m2m_changed -----------------


def _through_field(through: type[models.Model], using: str) -> tuple[type[models.Model], Any] | None:
    """The declaring model and tracked field whose auto-created through model ``through`` is, unless the
    delete is a related manager's own (``remove()``, ``clear()``: reported through ``m2m_changed``)."""
    declaring = through._meta.auto_created
    if not isinstance(declaring, type):
        return None  # a custom through model: its rows are its own
    held, block = _open.get(), _block(using)
    waiting = _pending.get(block, {}) if block is not None else {}
    if (held is not None and through in held) or any(key[1] is through for key in waiting):
        return None
    for f in tracked_m2m_fields(declaring):
        if f.remote_field.through is through:
            return declaring, f
    return None


def cascades_to_relations(collector: Any) -> bool:
    """True when ``collector`` deletes through rows of a tracked field a receiver wants (no query)."""
    for model in [qs.model for qs in collector.fast_deletes] + list(collector.data):
        tracked = _through_field(model, collector.using)
        if tracked is not None and wants(post_update_signal, tracked[0], [tracked[1].name]):
            return True
    return False


def read_cascaded_relations(collector: Any) -> Callable[[], None]:
    """Before Django's delete: read the relations the delete changes for rows it keeps; the returned
    function reports them once the delete is done (one call per field, in the delete's transaction).

    Deleting a tag deletes its rows of ``Book.tags.through``: every book that had it changes, unreported
    by Django. The books the delete removes themselves are reported deleted, not changed.
    """
    using = collector.using
    pairs_by_field: dict[Any, tuple[type[models.Model], list[tuple[Any, Any]]]] = {}
    for model, rows_of in [(qs.model, qs) for qs in collector.fast_deletes] + list(collector.data.items()):
        tracked = _through_field(model, using)
        if tracked is None:
            continue
        declaring, f = tracked
        source, other = _columns(f)
        if isinstance(rows_of, models.QuerySet):
            pairs = list(rows_of.values_list(source, other))
        else:
            pairs = [(getattr(obj, source), getattr(obj, other)) for obj in rows_of]
        pairs_by_field.setdefault(f, (declaring, []))[1].extend(pairs)
    found: list[tuple[_Change, list[tuple[Any, Any]]]] = []
    for f, (declaring, pairs) in pairs_by_field.items():
        doomed = {obj.pk for obj in collector.data.get(declaring, ())}
        kept = [pk for pk in dict.fromkeys(pk for pk, _ in pairs) if pk not in doomed]
        if kept and wants(post_update_signal, declaring, [f.name]):
            change = _Change(declaring, f, using, None)
            change.read(kept)
            found.append((change, pairs))

    def report() -> None:
        for change, pairs in found:
            for pk, related_pk in pairs:
                if pk in change.now:
                    change.now[pk].discard(related_pk)
            _report(change)

    return report
