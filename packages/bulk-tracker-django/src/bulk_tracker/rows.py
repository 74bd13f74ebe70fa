"""Reading rows around a write: old values under a row lock, new rows through the base manager."""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import operator
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from contextlib import suppress
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connections, models
from django.db.models.base import ModelState
from django.db.models.fields.related import ForeignObject
from django.db.models.sql.subqueries import DeleteQuery, UpdateQuery
from django.utils import timezone

from .backends import AnyOf, chunks, has_array_membership
from .backends import deletes_returning as deletes_returning
from .backends import max_params as max_params  # where callers find them
from .backends import returns_from_update as returns_from_update

M = TypeVar("M", bound=models.Model)
T = TypeVar("T")
Row = dict[str, Any]
_FETCH_SIZE = 2000


def lock_targets(opts: Any) -> tuple[str, ...]:
    """``select_for_update(of=...)`` names: the model's own rows and those of its MTI parents."""
    names = ["self"]

    def walk(meta: Any, prefix: str) -> None:
        for link in meta.parents.values():
            if link is not None:
                names.append(prefix + link.name)
                walk(link.related_model._meta, f"{prefix}{link.name}__")

    walk(opts, "")
    return tuple(names)


def written_rows(queryset: models.QuerySet[M]) -> models.QuerySet[M]:
    """The rows an UPDATE of ``queryset`` writes, as a query that can be read under a lock.

    An UPDATE ignores DISTINCT (and DISTINCT ON), and writes every row of a grouped query.
    """
    queryset = queryset.all()
    queryset.query.distinct = False
    queryset.query.distinct_fields = ()
    if queryset.query.group_by is not None:  # FOR UPDATE refuses GROUP BY: select the rows by pk
        grouped = queryset.values("pk")
        queryset = queryset.model._base_manager.db_manager(queryset.db).filter(pk__in=grouped)
    return queryset


def lock(queryset: models.QuerySet[M]) -> models.QuerySet[M]:
    """``queryset`` reading under a row lock where the backend has one (a no-op on SQLite)."""
    features = connections[queryset.db].features
    if not features.has_select_for_update:
        return queryset
    queryset = queryset.order_by("pk")  # one lock order for every caller: no deadlock between them
    queryset.query.distinct = False  # FOR UPDATE refuses DISTINCT; rows are keyed by pk anyway
    if features.has_select_for_update_of:
        return queryset.select_for_update(of=lock_targets(queryset.model._meta))
    return queryset.select_for_update()


def pk_fields(model: type[models.Model]) -> list[Any]:
    """The concrete fields of ``model``'s primary key: one, or the columns of a ``CompositePrimaryKey``."""
    opts = model._meta
    return list(getattr(opts, "pk_fields", None) or [opts.pk])  # Options.pk_fields: Django 5.2+


def pk_from(values: Sequence[Any]) -> Hashable:
    """The pk value of a row from the values of its ``pk_fields()``, in order: a tuple for a composite key."""
    return values[0] if len(values) == 1 else tuple(values)


def pk_is_set(obj: models.Model) -> bool:
    """Django's ``_is_pk_set()`` (5.2+: no part of a composite key unset, no database default), else ``pk``."""
    is_set = getattr(obj, "_is_pk_set", None)
    return bool(is_set()) if is_set is not None else obj.pk is not None


def row_key(field: Any, pk: Any) -> Any:
    """``pk`` as the rows read back carry it: ``"3"`` given for an integer key is ``3``, each part of a composite.

    A value the field refuses is left as it is: Django's own query refuses it with its own error.
    """
    try:
        parts = getattr(field, "fields", None)  # a CompositePrimaryKey's
        if parts is not None and isinstance(pk, (tuple, list)) and len(pk) == len(parts):
            return tuple(part.to_python(value) for part, value in zip(parts, pk, strict=True))
        return field.to_python(pk)
    except (TypeError, ValueError, ValidationError):
        return pk


def read_values(
    queryset: models.QuerySet[Any], attnames: Sequence[str], annotations: dict[str, Any] | None = None
) -> dict[Hashable, Row]:
    """``{pk: {attname: value}}`` of the rows ``queryset`` matches, locked until the transaction ends.

    ``annotations`` are computed in the same statement and returned under their own names.
    """
    annotations = annotations or {}
    names = [*attnames, *annotations]
    # The key's columns one by one: a composite "pk" in a FOR UPDATE OF query fails on PostgreSQL.
    keys = [field.attname for field in pk_fields(queryset.model)]
    values = lock(written_rows(queryset)).annotate(**annotations).values_list(*keys, *names)
    width = len(keys)
    return {pk_from(row[:width]): dict(zip(names, row[width:], strict=True)) for row in values}


def row_attnames(model: type[models.Model]) -> list[str]:
    """The attnames of ``model``'s concrete fields, in ``concrete_fields`` order: the columns of a whole row."""
    return [field.attname for field in model._meta.concrete_fields]


def fetch(model: type[M], alias: str, pks: Collection[Hashable]) -> dict[Hashable, Sequence[Any]]:
    """Every concrete column of the rows ``pks`` (``concrete_fields`` order, as Django reads them), by pk.

    Read through the base manager (a default manager must not hide rows). ``picker()`` reads columns
    of a row; ``Builder(loader(), row)`` makes its instance when it is wanted.
    """
    manager = model._base_manager.db_manager(alias)
    names = row_attnames(model)
    keys = [names.index(field.attname) for field in pk_fields(model)]
    found: dict[Hashable, Sequence[Any]] = {}
    ordered = pk_sorted(pks, model._meta.pk)
    for chunk in chunks(ordered, alias, per_item=len(keys)):
        for values in manager.filter(pk__in=chunk).values_list(*names):
            found[pk_from([values[key] for key in keys])] = values
    return found


def picker(model: type[models.Model], wanted: Sequence[str]) -> Callable[[Sequence[Any]], Row]:
    """``{attname: value}`` of the ``wanted`` attnames, from a row of every concrete column as ``fetch()`` reads it."""
    names = row_attnames(model)
    positions = [(name, names.index(name)) for name in wanted]
    return lambda values: {name: values[position] for name, position in positions}


class Builder:
    """Builds, on call, the instance of one row captured at write time: ``load(values)``.

    One per reported row, kept until the receivers have run, so it is as small as an object can
    be; ``load`` is shared by every row of an operation.
    """

    __slots__ = ("load", "values")

    def __init__(self, load: Callable[[Any], Any], values: Any) -> None:
        self.load = load
        self.values = values

    def __call__(self) -> Any:
        return self.load(self.values)


def loader(model: type[M], alias: str) -> Callable[[Sequence[Any]], M]:
    """The instance of a row of every concrete column (``concrete_fields`` order), as loaded from ``alias``."""
    return functools.partial(model.from_db, alias, row_attnames(model))


def instances(model: type[M], alias: str, by_pk: Mapping[Hashable, Row]) -> list[M]:
    """The instances of whole rows ``{pk: {attname: value}}`` (as ``read_values()`` reads them), in pk order."""
    load, names = loader(model, alias), row_attnames(model)
    return [load([by_pk[pk][name] for name in names]) for pk in pk_sorted(by_pk, model._meta.pk)]


def related_objects(field: ForeignObject, alias: str, values: Iterable[Any]) -> dict[Any, models.Model]:
    """Related instances of ``field`` for the given raw values, in one query per parameter chunk."""
    target = field.target_field
    wanted = pk_sorted({value for value in values if value is not None}, target)
    if not wanted:
        return {}
    manager = field.related_model._base_manager.db_manager(alias)
    found: dict[Any, models.Model] = {}
    for chunk in chunks(wanted, alias):
        found.update((getattr(obj, target.attname), obj) for obj in manager.filter(**{f"{target.name}__in": chunk}))
    return found


def copy_instance(instance: M) -> M:
    """``copy.copy(instance)`` as Django's ``__getstate__``/``__setstate__`` make it, without pickling's detour."""
    clone = object.__new__(type(instance))
    clone.__dict__.update(instance.__dict__)
    state = ModelState()
    state.__dict__.update(instance._state.__dict__)
    state.__dict__.pop("peers", None)  # weak references to the other rows of a query (Django 6.1), never copied
    state.fields_cache = dict(instance._state.fields_cache)
    clone._state = state
    return clone


def attribute_values(obj: models.Model, attnames: Iterable[str]) -> Row:
    return {name: getattr(obj, name) for name in attnames}


def pk_order(value: Any, field: Any = None) -> tuple[str, Any]:
    """A sort key that keeps rows in primary-key order whatever the key type.

    With ``field`` (the key's field), by the value the database compares: a key whose Python value
    is an object that does not order (a hashid, say) sorts by what ``get_prep_value()`` makes of it.
    """
    if field is not None:
        with suppress(TypeError, ValueError, ValidationError):  # a value Django's own query refuses
            value = field.get_prep_value(value)
    return (type(value).__name__, value)


def pk_sorted(pks: Iterable[T], field: Any = None) -> list[T]:
    """``pks`` in primary-key order (``pk_order``), without a key per value when they compare as they are."""
    pks = list(pks)
    if len({type(pk) for pk in pks}) <= 1:
        with suppress(TypeError):  # values of one type that do not order (None among them, say)
            return sorted(pks)  # type: ignore[type-var]
    return sorted(pks, key=lambda pk: pk_order(pk, field))


def exactly(model: type[M], alias: str, pks: Sequence[Hashable]) -> list[models.QuerySet[M]]:
    """Querysets (of the base manager) that together match exactly the rows ``pks``.

    On PostgreSQL one ``pk = ANY(array)``: one parameter, whatever the number of rows. Elsewhere
    ``pk__in`` in chunks the backend's parameter limit allows.
    """
    manager = model._base_manager.db_manager(alias)
    if not pks:
        return [manager.none()]
    if has_array_membership(model, alias):
        return [manager.filter(AnyOf(models.F("pk"), list(pks)))]
    return [manager.filter(pk__in=chunk) for chunk in chunks(pks, alias, per_item=2 * len(pk_fields(model)))]


def update_returning(
    querysets: Iterable[models.QuerySet[M]],
    values: dict[str, Any],
    keep: Callable[[Hashable, Row, Row], bool] | None = None,
) -> tuple[int, dict[Hashable, Callable[[], M]]]:
    """Django's UPDATE of the rows of ``querysets``, with ``RETURNING`` every column: the new rows, whole.

    The statement is Django's own (``UpdateQuery``), so values and expressions are prepared and
    validated exactly as ``QuerySet.update()`` does; only the RETURNING clause is added. ``keep``
    is passed to ``builders_from_rows()`` with the written columns.
    """
    found: dict[Hashable, Callable[[], M]] = {}
    count = 0
    for queryset in querysets:
        model, alias = queryset.model, queryset.db
        update = queryset.query.chain(UpdateQuery)
        update.add_update_values(values)
        update.annotations = {}
        sql, params = update.get_compiler(alias).as_sql()
        written = [model._meta.get_field(name).attname for name in values]
        part_count, part = _returning(model, alias, sql, params, attnames=written, keep=keep)
        count += part_count
        found.update(part)
    return count, found


def _returning(
    model: type[M],
    alias: str,
    sql: str,
    params: Sequence[Any],
    extra: Sequence[str] = (),
    **builders: Any,
) -> tuple[int, dict[Hashable, Callable[[], M]]]:
    """Run ``sql`` (a statement of Django's) with ``RETURNING`` every concrete column of ``model``'s table, then
    the ``extra`` expressions; the rows handed back, by pk, as ``builders_from_rows(**builders)`` makes them."""
    connection = connections[alias]
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    columns = ", ".join([*(f"{table}.{qn(field.column)}" for field in model._meta.concrete_fields), *extra])
    found: dict[Hashable, Callable[[], M]] = {}
    count = 0
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {columns}", params)
        while returned := cursor.fetchmany(_FETCH_SIZE):
            count += len(returned)
            found.update(builders_from_rows(model, alias, returned, **builders))
    return count, found


def update_with_old_values(
    queryset: models.QuerySet[M],
    values: dict[str, Any],
    attnames: Sequence[str],
    keep: Callable[[Hashable, Row, Row], bool],
) -> tuple[int, dict[Hashable, Callable[[], M]]]:
    """One statement (PostgreSQL): Django's UPDATE joined to the locked read of the rows ``queryset`` matches.

    ``UPDATE t SET ... FROM (SELECT pk, attnames ... FOR UPDATE) AS old WHERE t.pk = old.pk RETURNING
    t.*, old.attnames``: both halves are compiled by Django (the read is ``read_values()``'s query, the
    SET is ``QuerySet.update()``'s), so the rows written are exactly the rows read, locked in pk order,
    and each row's old values come back with its new state. ``keep(pk, new, old)`` (both
    ``{attname: value}`` of ``attnames``) picks the rows whose builders are returned.
    """
    model, alias = queryset.model, queryset.db
    connection = connections[alias]
    qn = connection.ops.quote_name
    opts = model._meta
    read = lock(written_rows(queryset)).values_list(opts.pk.attname, *attnames)
    try:
        read_sql, read_params = read.query.get_compiler(alias).as_sql()
    except EmptyResultSet:
        return 0, {}  # Django's UPDATE runs no statement either
    update = model._base_manager.db_manager(alias).all().query.chain(UpdateQuery)
    update.add_update_values(values)
    update_sql, update_params = update.get_compiler(alias).as_sql()
    table, old = qn(opts.db_table), qn("_bulk_tracker_old")
    names = [qn(f"c{i}") for i in range(len(attnames) + 1)]
    sql = (
        f"{update_sql} FROM ({read_sql}) AS {old}({', '.join(names)}) "
        f"WHERE {table}.{qn(opts.pk.column)} = {old}.{names[0]}"
    )
    extra = [f"{old}.{name}" for name in names[1:]]
    return _returning(
        model, alias, sql, (*update_params, *read_params), extra, attnames=attnames, keep=keep, old=attnames
    )


def delete_returning(queryset: models.QuerySet[M], using: str) -> tuple[int, dict[Hashable, Callable[[], M]]]:
    """Django's ``queryset._raw_delete(using)``: its own compiled DELETE, with ``RETURNING`` every column.

    Returns Django's count and, by pk, a function building the instance of each row deleted. A DELETE
    Django compiles otherwise (MySQL's multi-table ``DELETE t FROM ...``): Django's own, after a
    locked read of the rows it matches.
    """
    model = queryset.model
    query = queryset.query.clone()
    query.__class__ = DeleteQuery
    try:
        sql, params = query.get_compiler(using).as_sql()
    except EmptyResultSet:
        return 0, {}  # Django runs no statement either
    if sql.startswith("DELETE FROM "):
        return _returning(model, using, sql, params)
    names = row_attnames(model)
    found = builders_from_rows(model, using, list(lock(queryset.using(using)).values_list(*names)))
    return int(models.QuerySet._raw_delete(queryset, using)), found


def builders_from_rows(
    model: type[M],
    alias: str,
    returned: Sequence[Sequence[Any]],
    attnames: Sequence[str] = (),
    keep: Callable[[Hashable, Row, Row], bool] | None = None,
    old: Sequence[str] = (),
) -> dict[Hashable, Callable[[], M]]:
    """By pk, a function building the instance of each raw row of every concrete column (``concrete_fields`` order).

    Only the pk and ``attnames`` are converted now (with the converters Django applies when it reads
    those columns itself); the rest of a row is converted, and its instance built, when the function
    is called. A row may carry, after its concrete columns, the old values of the columns ``old``
    names. With ``keep``, only the rows for which ``keep(pk, new, old)`` is true are kept (``new``:
    ``{attname: value}`` of ``attnames``; ``old``: of ``old``, empty without).
    """
    opts = model._meta
    fields = list(opts.concrete_fields)
    names = [field.attname for field in fields]
    compiler = model._base_manager.db_manager(alias).all().query.get_compiler(alias)
    converters = compiler.get_converters([field.get_col(opts.db_table) for field in fields])
    keys = [names.index(field.attname) for field in pk_fields(model)]
    width, wide = len(keys), len(keys) + len(attnames)
    picked = [*keys, *(names.index(name) for name in attnames)]
    by_position = [*picked, *(names.index(name) for name in old)]  # whose converters each picked value takes
    picked += range(len(names), len(names) + len(old))
    picked_converters = {i: converters[p] for i, p in enumerate(by_position) if p in converters}
    # One more item than picked, so that itemgetter always makes a tuple; the last one is never read.
    slim: Iterable[Sequence[Any]] = map(operator.itemgetter(*picked, picked[0]), returned)
    if picked_converters:
        slim = compiler.apply_converters(slim, picked_converters)
    build = functools.partial(_from_raw_row, model, alias, names, compiler, converters)
    found: dict[Hashable, Callable[[], M]] = {}
    for row, new in zip(returned, slim, strict=True):
        pk = new[0] if width == 1 else tuple(new[:width])
        if keep is None or keep(
            pk, dict(zip(attnames, new[width:wide], strict=True)), dict(zip(old, new[wide:-1], strict=True))
        ):
            found[pk] = Builder(build, row)
    return found


def _from_raw_row(
    model: type[M], alias: str, names: list[str], compiler: Any, converters: dict[int, Any], row: Sequence[Any]
) -> M:
    if len(row) > len(names):  # the old values after the concrete columns
        row = row[: len(names)]
    values = next(iter(compiler.apply_converters([row], converters))) if converters else row
    return model.from_db(alias, names, values)


UNKNOWN: Any = object()  # stored_value(): only a read of the row can tell
# Built-in fields whose stored value is ``to_python(get_prep_value(value))`` on every backend.
_STORED_AS_TO_PYTHON = frozenset(
    {
        models.AutoField,
        models.BigAutoField,
        models.SmallAutoField,
        models.IntegerField,
        models.BigIntegerField,
        models.SmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveBigIntegerField,
        models.PositiveSmallIntegerField,
        models.BooleanField,
        models.FloatField,
        models.DateField,
        models.UUIDField,
        models.DurationField,
    }
)
_STRINGS = frozenset({models.CharField, models.TextField, models.EmailField, models.SlugField, models.URLField})
_SQLITE_EXACT_DIGITS = 15  # SQLite keeps a decimal column's value as a REAL


def stored_value(field: models.Field[Any, Any], value: Any, alias: str) -> Any:
    """The value Django reads back from ``field``'s column after writing ``value`` there, or ``UNKNOWN``.

    Known only for Django's own field types and plain values; expressions, custom fields and values
    each backend stores its own way (a Decimal half a unit of the column's last place) are ``UNKNOWN``.
    """
    if hasattr(value, "resolve_expression"):
        return UNKNOWN
    if field.is_relation:
        if type(field) not in (models.ForeignKey, models.OneToOneField):
            return UNKNOWN
        field = field.target_field
    if value is None:
        return None
    store = _STORED.get(type(field))
    if store is None:
        return UNKNOWN
    try:
        return store(field, value, alias)
    except (TypeError, ValueError, ValidationError):
        return UNKNOWN  # the database decides, or refuses


def _stored_as_to_python(field: Any, value: Any, alias: str) -> Any:
    return field.to_python(field.get_prep_value(value))


def _stored_text(field: Any, value: Any, alias: str) -> Any:
    text = field.to_python(value)
    max_length = field.max_length
    return UNKNOWN if max_length is not None and len(text) > max_length else text


def _stored_time(field: Any, value: Any, alias: str) -> Any:
    time = field.to_python(value)
    return UNKNOWN if time is None or time.tzinfo is not None else time


def _stored_json(field: Any, value: Any, alias: str) -> Any:
    text = json.dumps(field.get_prep_value(value), cls=field.encoder)
    return json.loads(text, cls=field.decoder)


def _stored_decimal(field: Any, value: Any, alias: str) -> Any:
    number = field.to_python(value)
    if not number.is_finite():
        return UNKNOWN
    if connections[alias].vendor == "sqlite" and len(number.as_tuple().digits) > _SQLITE_EXACT_DIGITS:
        return UNKNOWN  # kept as a REAL
    places = field.decimal_places
    if places is None:
        return number
    step = decimal.Decimal(1).scaleb(-places)
    try:
        stored = number.quantize(step, rounding=decimal.ROUND_HALF_EVEN)
        # Every backend rounds to the nearest; a tie, each its own way (Django's SQLite to even).
        return stored if stored == number.quantize(step, rounding=decimal.ROUND_HALF_UP) else UNKNOWN
    except decimal.InvalidOperation:
        return UNKNOWN  # more digits than a Decimal context holds: the database decides, or refuses


def _stored_datetime(field: Any, value: Any, alias: str) -> Any:
    if not isinstance(value, (str, datetime.datetime)):
        return UNKNOWN  # a date: Django makes it a datetime with a warning
    moment = field.to_python(value)
    if moment is None:
        return UNKNOWN
    aware = moment.utcoffset() is not None
    if not settings.USE_TZ:
        return UNKNOWN if aware else moment
    try:
        if not aware:  # as DateTimeField.get_prep_value() writes it: in the default time zone
            moment = timezone.make_aware(moment, timezone.get_default_timezone())
        return moment.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError):
        return UNKNOWN  # out of range in UTC: the write decides


_STORED: dict[type[Any], Callable[[Any, Any, str], Any]] = {
    **dict.fromkeys(_STORED_AS_TO_PYTHON, _stored_as_to_python),
    **dict.fromkeys(_STRINGS, _stored_text),
    models.DecimalField: _stored_decimal,
    models.DateTimeField: _stored_datetime,
    models.TimeField: _stored_time,
    models.JSONField: _stored_json,
}
