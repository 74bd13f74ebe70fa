"""Per-vendor write strategies and limits: parameter limits, RETURNING, the VALUES join, ``= ANY``.

Django's own bulk_update() writes a ``CASE WHEN pk = ... THEN ...`` per row and field, whose cost
grows with the square of the rows on PostgreSQL. ``values_join_update()`` joins a VALUES list
instead, which grows linearly and, with ``RETURNING``, hands back the new rows whole. Its WHERE is
the queryset's own, compiled by Django, and each value is Django's ``Cast(Value(v, field), field)``,
the very expression Django's bulk_update() writes for it on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections, models
from django.db.models.functions import Cast
from django.db.models.lookups import Lookup
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.subqueries import UpdateQuery

_SQLITE_LIMIT_VARIABLE_NUMBER = 9  # sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, named there from Python 3.11


def max_params(alias: str) -> int:
    """How many parameters one statement on ``alias`` may carry (the real limit, not Django's guess)."""
    connection = connections[alias]
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        getlimit = getattr(connection.connection, "getlimit", None)
        if getlimit is not None:  # Python 3.11+
            return int(getlimit(_SQLITE_LIMIT_VARIABLE_NUMBER))
        return 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
    return int(connection.features.max_query_params or 65535)


def chunks(values: Sequence[Any], alias: str, per_item: int = 1) -> Iterator[Sequence[Any]]:
    """Split ``values`` so that no statement on ``alias`` exceeds its parameter limit."""
    size = max(1, max_params(alias) // per_item - 1)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def returns_from_update(model: type[models.Model], alias: str) -> bool:
    """True when ``UPDATE ... RETURNING`` can hand back the new rows (PostgreSQL, SQLite 3.35+).

    MariaDB has no UPDATE ... RETURNING; a multi-table model is written by several UPDATEs.
    """
    connection = connections[alias]
    return (
        connection.vendor in ("postgresql", "sqlite")
        and bool(connection.features.can_return_columns_from_insert)
        and not model._meta.parents
    )


def deletes_returning(alias: str) -> bool:
    """True when ``DELETE ... RETURNING`` hands back the deleted rows: PostgreSQL, SQLite 3.35+, MariaDB 10.5+."""
    connection = connections[alias]
    if connection.vendor == "mysql":
        return bool(connection.mysql_is_mariadb and connection.features.can_return_columns_from_insert)
    return connection.vendor in ("postgresql", "sqlite") and bool(connection.features.can_return_columns_from_insert)


def updates_with_old_values(model: type[models.Model], alias: str) -> bool:
    """True when one ``UPDATE ... FROM (locked read) ... RETURNING`` can write and report (PostgreSQL).

    A single-table model whose primary key is one column: the join is on that column.
    """
    return connections[alias].vendor == "postgresql" and not model._meta.parents and single_column_pk(model)


def single_column_pk(model: type[models.Model]) -> bool:
    """True unless ``model``'s primary key spans several columns (a ``CompositePrimaryKey``, Django 5.2+)."""
    return isinstance(getattr(model._meta.pk, "column", None), str)


def has_array_membership(model: type[models.Model], alias: str) -> bool:
    """True when ``AnyOf`` applies: PostgreSQL, and a primary key of one column."""
    return connections[alias].vendor == "postgresql" and single_column_pk(model)


class AnyOf(Lookup):
    """``lhs = ANY(%s)`` with the values as one array parameter (PostgreSQL), whatever their number.

    Used as an expression, never registered on a field: ``filter(AnyOf(F("pk"), pks))``.
    """

    lookup_name = "bulk_tracker_any_of"
    prepare_rhs = False  # a list of values, each prepared in as_sql()

    def as_sql(self, compiler: SQLCompiler, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection, prepared=False) for value in self.rhs]
        return f"{lhs} = ANY(%s)", (*lhs_params, values)


def values_join_applies(queryset: models.QuerySet[Any], objs: Sequence[models.Model], fields: Sequence[Any]) -> bool:
    """True when the VALUES join writes exactly what Django's bulk_update() would.

    PostgreSQL, a single-table model whose primary key is one column, plain values (no expressions),
    each pk once, fields without a custom placeholder, and a queryset whose WHERE needs no aggregate.
    """
    model, query = queryset.model, queryset.query
    if connections[queryset.db].vendor != "postgresql" or model._meta.parents or not single_column_pk(model):
        return False
    if any(hasattr(f, "get_placeholder") or hasattr(f, "get_placeholder_sql") for f in fields):
        return False
    if any(getattr(annotation, "contains_aggregate", False) for annotation in query.annotations.values()):
        return False
    pks = [obj.pk for obj in objs]
    if len(set(pks)) != len(pks):
        return False
    return not any(hasattr(getattr(obj, f.attname), "resolve_expression") for obj in objs for f in fields)


def values_join_update(
    queryset: models.QuerySet[Any], objs: Sequence[models.Model], fields: Sequence[Any], batch_size: int | None
) -> Iterator[list[tuple[Any, ...]]]:
    """Write ``fields`` of ``objs`` to the rows ``queryset`` matches, one statement per batch.

    Yields each batch's rows as stored, every concrete column in ``_meta.concrete_fields`` order;
    Django's count is the number of rows yielded.
    """
    if not objs:
        return
    alias = queryset.db
    connection = connections[alias]
    qn = connection.ops.quote_name
    opts = queryset.model._meta
    compiler = queryset.query.chain(UpdateQuery).get_compiler(alias)
    try:
        where, where_params = _where(compiler)
    except EmptyResultSet:
        return  # Django's UPDATE would run no statement either
    table, pk = qn(opts.db_table), qn(opts.pk.column)
    written = [opts.pk, *fields]
    assignments = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in fields)
    names = ", ".join(qn(f.column) for f in written)
    condition = f"{table}.{pk} = v.{pk}" + (f" AND ({where})" if where else "")
    returning = ", ".join(f"{table}.{qn(f.column)}" for f in opts.concrete_fields)
    size = batch_size or len(objs)
    for start in range(0, len(objs), size):
        cells, params = _values(compiler, objs[start : start + size], written)
        sql = (
            f"UPDATE {table} SET {assignments} FROM (VALUES {cells}) AS v({names}) "
            f"WHERE {condition} RETURNING {returning}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, (*params, *where_params))
            yield cursor.fetchall()


def _where(compiler: Any) -> tuple[str, Sequence[Any]]:
    """The queryset's WHERE as Django's UPDATE compiles it (joins become a ``pk IN (subquery)``)."""
    compiler.pre_sql_setup()
    try:
        return compiler.compile(compiler.query.where)
    except FullResultSet:
        return "", ()


def _values(compiler: Any, objs: Sequence[models.Model], fields: Sequence[Any]) -> tuple[str, list[Any]]:
    """The VALUES rows of ``objs``: each value as Django's bulk_update() writes it, cast to its column."""
    rows, params = [], []
    for obj in objs:
        cells = []
        for field in fields:
            value = Cast(models.Value(getattr(obj, field.attname), output_field=field), output_field=field)
            sql, cell_params = compiler.compile(value.resolve_expression(compiler.query, for_save=True))
            cells.append(sql)
            params.extend(cell_params)
        rows.append(f"({', '.join(cells)})")
    return ", ".join(rows), params
