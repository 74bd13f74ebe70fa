"""``QuerySet.update()``, tracked: one locked read of the written columns, Django's UPDATE, the changed rows.

Strategies, chosen once per operation:

* PostgreSQL (single-table models, a one-column pk not written, no annotation): one statement,
  Django's compiled UPDATE joined to Django's compiled locked read of the rows (``UPDATE ... FROM
  (SELECT ... FOR UPDATE) ... RETURNING``), which hands back each row's old and new state.
* SQLite 3.35+ (and PostgreSQL otherwise; single-table models): Django's own compiled UPDATE of exactly
  the rows read, with ``RETURNING`` every column. Two statements.
* Elsewhere (MariaDB, MTI): Django's UPDATE, then one read of the rows that may have changed (all of
  them when an expression was written). Three statements.
* Plain values every row read already holds (``update(flag=False)`` of rows all False): Django's
  UPDATE of the rows read, without RETURNING and with nothing read back. Two statements.

With ``RETURNING``, the diff is taken as the rows stream back, so only the rows whose written columns
changed are kept, each to become an instance when a receiver reads it.

An ordered queryset on MariaDB keeps Django's ``UPDATE ... ORDER BY``: the UPDATE is the caller's
queryset restricted to the rows read.

Every UPDATE writes exactly the rows read (the filter is not evaluated a second time), with the values
resolved once against the caller's query. No value, or ordering by an aggregate: Django's own method.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import django
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models.sql.subqueries import UpdateQuery

from bulk_tracker_core import ModifiedObject, TrackingInfo, changed_fields

from .. import rows
from ..backends import chunks, updates_with_old_values
from ..delivery import wants
from ..signals import post_update_signal, pre_update_signal
from .base import Before, Operation, Report

M = TypeVar("M", bound=models.Model)


class Update(Operation[M, int]):
    """``queryset.update(**values)``; ``django_update()`` is Django's own method for the same call."""

    def __init__(
        self,
        queryset: models.QuerySet[M],
        values: dict[str, Any],
        info: TrackingInfo | None,
        django_update: Callable[[], int],
    ) -> None:
        super().__init__(queryset.model, queryset.db, info)
        self.queryset = queryset
        self.values = values
        self.django_update = django_update
        self.written: dict[str, Any] = {}  # by keyword: the field it writes
        self.resolved: dict[str, Any] = {}  # by keyword: the value, resolved against the caller's query
        self.old: dict[Hashable, rows.Row] = {}  # by pk: the written columns before the write
        self.moved: dict[Hashable, Hashable] = {}  # old pk -> new pk, when the pk is written
        self.diffs: dict[Hashable, rows.Row] = {}  # by old pk: the old values of what changed
        self.new: dict[Hashable, Callable[[], M]] = {}  # by new pk: the rows that changed, as written, built on call
        self.in_one_statement = False  # the UPDATE itself reads the old values
        self.whole: dict[Hashable, rows.Row] = {}  # by pk: the rows about to be written, for pre_update_signal
        self.reported = False  # post_update_signal has a receiver that counts what is written
        self.announced = False  # pre_update_signal has a receiver

    def plan(self) -> bool:
        query = self.queryset.query
        refused = query.combinator or query.is_sliced or (query.distinct_fields and django.VERSION >= (6, 1))
        refused = refused or _orders_by_aggregate(query)
        self.announced = wants(pre_update_signal, self.model)
        if refused or not self.values or not (self.announced or wants(post_update_signal, self.model)):
            return False  # untracked, refused by Django with its own error, or no value: no statement, 0
        self.written, self.resolved = _written_fields(self.queryset, self.values)
        self.reported = wants(post_update_signal, self.model, [field.name for field in self.written.values()])
        if not (self.reported or self.announced):
            return False  # no receiver counts a change of what is written: Django's own UPDATE
        self.in_one_statement = (
            not self.announced
            and updates_with_old_values(self.model, self.alias)
            and not query.annotations
            and not _key_writes(self.model, self.written)
        )
        return True

    def untracked(self) -> int:
        return self.django_update()

    def read_before(self) -> None:
        if self.in_one_statement:
            return  # the UPDATE reads them
        attnames = self._attnames()
        annotation = _new_pk_annotation(self.model, self.written, self.values)
        if self.announced:  # the rows whole, for pre_update_signal's receivers
            self.whole = rows.read_values(self.queryset, rows.row_attnames(self.model), annotation)
            kept = [*attnames, *(annotation or ())]
            self.old = {pk: {name: row[name] for name in kept} for pk, row in self.whole.items()}
        else:
            self.old = rows.read_values(self.queryset, attnames, annotation)
        self.moved = _new_pks(self.model, self.old, self.written, self.values)

    def before_write(self) -> list[Before]:
        if not self.whole:
            return []
        values = dict(self.values)  # one dict, the same for every row: what update() was given
        current = rows.instances(self.model, self.alias, self.whole)
        return [Before(pre_update_signal, self.model, current, {row.pk: values for row in current})]

    def write(self) -> int:
        if self.in_one_statement:
            count = self._write_with_old_values()
        elif self.old and _holds_already(self.old, self.written, self.values):
            # Plain values every row already holds: Django's UPDATE of the rows read, nothing to hand back.
            count = sum(models.QuerySet.update(part, **self.resolved) for part in self._rows_read())
        elif self.old and rows.returns_from_update(self.model, self.alias) and not self.queryset.query.annotations:
            count = self._write_returning()
        else:
            count = self._write_then_read()
        self.queryset._result_cache = None  # as Django's update() does: the rows it cached are stale
        return count

    def _write_returning(self) -> int:
        """One statement writes exactly the rows read and hands back their new state."""
        old_pk = {new_pk: pk for pk, new_pk in self.moved.items()}

        def changed(pk: Hashable, values: rows.Row, _: rows.Row) -> bool:
            pk = old_pk.get(pk, pk)
            diff = changed_fields(self.old.pop(pk), values)  # the row's old values are not needed again
            if diff:
                self.diffs[pk] = diff
            return bool(diff)

        count, self.new = rows.update_returning(self._rows_read(), self.resolved, changed)
        return count

    def _write_with_old_values(self) -> int:
        """One statement writes the rows the filter matches, locked, and hands back their old and new state."""

        def changed(pk: Hashable, new: rows.Row, old: rows.Row) -> bool:
            diff = changed_fields(old, new)
            if diff:
                self.diffs[pk] = diff
            return bool(diff)

        count, self.new = rows.update_with_old_values(self.queryset, self.resolved, self._attnames(), changed)
        return count

    def _attnames(self) -> list[str]:
        return list(dict.fromkeys(field.attname for field in self.written.values()))

    def _write_then_read(self) -> int:
        count = sum(models.QuerySet.update(part, **self.resolved) for part in self._rows_read())
        attnames = self._attnames()
        maybe_changed = _maybe_changed(self.old, self.written, self.values)
        fetched = rows.fetch(self.model, self.alias, [self.moved.get(pk, pk) for pk in maybe_changed])
        pick = rows.picker(self.model, attnames)
        for pk in maybe_changed:
            values = fetched.get(self.moved.get(pk, pk))
            if values is not None and (diff := changed_fields(self.old[pk], pick(values))):
                self.diffs[pk] = diff
        load = rows.loader(self.model, self.alias)
        self.new = {pk: rows.Builder(load, values) for pk, values in fetched.items()}
        return count

    def _rows_read(self) -> list[models.QuerySet[M]]:
        """What the UPDATE after the locked read writes: exactly the rows read, never the filter again.

        A row that starts to match the filter meanwhile must not be changed unreported, and a filter
        evaluated twice (a subquery ordered by ``?``) need not match the same rows twice. MySQL's
        UPDATE keeps the queryset's ordering (``UPDATE ... ORDER BY``, which a unique column may
        need): there the caller's queryset itself, restricted to the rows read, is Django's UPDATE.
        """
        pks = list(self.old)
        if self.queryset.query.order_by and connections[self.alias].vendor == "mysql":
            per_item = 2 * len(rows.pk_fields(self.model))
            return [self.queryset.filter(pk__in=part) for part in chunks(pks, self.alias, per_item=per_item)]
        return rows.exactly(self.model, self.alias, pks)

    def changes(self) -> list[Report]:
        if not self.reported:
            return []
        order = rows.pk_sorted(self.diffs, self.model._meta.pk)
        changed = [(self.moved.get(pk, pk), self.diffs[pk]) for pk in order]
        return [Report(post_update_signal, self.model, _as_written(changed, self.new, self.written, self.alias))]


def _orders_by_aggregate(query: Any) -> bool:
    """True when the queryset is ordered by an aggregate annotation, which Django's update() refuses."""
    names = (col.removeprefix("-") for col in query.order_by if isinstance(col, str))
    return any(getattr(query.annotations.get(name), "contains_aggregate", False) for name in names)


def _written_fields(queryset: models.QuerySet[Any], kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The field behind each keyword of ``update()``, validated exactly as Django validates them, and its value.

    Each expression is resolved as Django resolves it, against the caller's query: an annotation it
    names is inlined, so the value can be written through another queryset of the same rows.
    """
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(kwargs)  # raises Django's FieldError for names it refuses
    opts = queryset.model._meta
    written = {key: opts.pk if key == "pk" else opts.get_field(key) for key in kwargs}
    resolved = {field: value for field, _, value in query.values}  # a parent's fields are resolved later
    return written, {key: resolved.get(written[key], value) for key, value in kwargs.items()}


_NEW_PK = "_bulk_tracker_new_pk"


def _key_writes(model: type[models.Model], written: dict[str, Any]) -> dict[int, str]:
    """``{position in the primary key: keyword of update() that writes that column}``, if any do.

    One position for a single-column key; a composite key's parts are written one by one.
    """
    fields = rows.pk_fields(model)
    return {fields.index(field): key for key, field in written.items() if field in fields}


def _new_pk_annotation(
    model: type[models.Model], written: dict[str, Any], kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """Expressions that write the pk (or parts of it), evaluated per row in the locked read of the old rows."""
    annotations = {
        f"{_NEW_PK}{position}": models.ExpressionWrapper(kwargs[key], output_field=written[key])
        for position, key in _key_writes(model, written).items()
        if hasattr(kwargs[key], "resolve_expression")
    }
    return annotations or None


def _new_pks(
    model: type[models.Model], old: dict[Hashable, rows.Row], written: dict[str, Any], kwargs: dict[str, Any]
) -> dict[Hashable, Hashable]:
    """``{old pk: new pk}`` when ``update()`` writes the primary key (or part of a composite one), else empty."""
    writes = _key_writes(model, written)
    if not writes or not old:
        return {}
    fields = rows.pk_fields(model)
    plain = {}  # by position: a plain value, the same for every row
    for position, key in writes.items():
        value = kwargs[key]
        if not hasattr(value, "resolve_expression"):
            plain[position] = fields[position].to_python(value.pk if isinstance(value, models.Model) else value)
    moved = {}
    for pk, row in old.items():
        parts = list(pk) if len(fields) > 1 else [pk]  # type: ignore[call-overload]
        for position in writes:
            name = f"{_NEW_PK}{position}"
            parts[position] = fields[position].to_python(row.pop(name)) if name in row else plain[position]
        moved[pk] = rows.pk_from(parts)
    return moved


def _holds_already(old: dict[Hashable, rows.Row], written: dict[str, Any], kwargs: dict[str, Any]) -> bool:
    """True when the values are plain and every row read holds them already; a value Django refuses: False."""
    if _has_expression(kwargs):
        return False
    try:
        new_values = _plain_values(written, kwargs)
    except (TypeError, ValueError, ValidationError):
        return False  # Django's UPDATE raises its own error for it
    return not any(changed_fields(values, new_values) for values in old.values())


def _has_expression(kwargs: dict[str, Any]) -> bool:
    return any(hasattr(value, "resolve_expression") for value in kwargs.values())


def _plain_values(written: dict[str, Any], kwargs: dict[str, Any]) -> rows.Row:
    """``{attname: value}`` of plain ``update()`` values, as the field's Python value."""
    new_values: rows.Row = {}
    for key, value in kwargs.items():
        field = written[key]
        raw = value.pk if isinstance(value, models.Model) and field.is_relation else value
        new_values[field.attname] = field.to_python(raw)
    return new_values


def _maybe_changed(old: dict[Hashable, rows.Row], written: dict[str, Any], kwargs: dict[str, Any]) -> list[Hashable]:
    """The rows whose new state must be read: all of them, unless plain values show which changed."""
    if _has_expression(kwargs):
        return list(old)
    new_values = _plain_values(written, kwargs)
    return [pk for pk, values in old.items() if changed_fields(values, new_values)]


def _as_written(
    changes: list[tuple[Hashable, dict[str, Any]]],
    new: dict[Hashable, Callable[[], M]],
    written: dict[str, Any],
    alias: str,
) -> list[ModifiedObject[M]]:
    """Each changed row (new pk, old values), its old values keyed by the names the caller wrote.

    ``author=`` reports the old Author. The instance is built when a receiver first reads it.
    """
    by_object = [key for key, field in written.items() if field.is_relation and key == field.name]
    related = {
        key: rows.related_objects(written[key], alias, (diff.get(written[key].attname) for _, diff in changes))
        for key in by_object
    }
    if all(key == field.attname for key, field in written.items()):  # the diff is keyed as written
        return [ModifiedObject.built_on_access(new[pk], diff, pk) for pk, diff in changes]
    result = []
    for pk, diff in changes:
        values = {}
        for key, field in written.items():
            if field.attname in diff:
                old = diff[field.attname]
                values[key] = related[key].get(old) if key in related else old
        result.append(ModifiedObject.built_on_access(new[pk], values, pk))
    return result
