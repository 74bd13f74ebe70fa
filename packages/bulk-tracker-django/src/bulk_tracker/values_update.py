"""bulk_update() on PostgreSQL as one ``UPDATE ... FROM (VALUES ...)`` join per batch.

Django's own bulk_update() writes a ``CASE WHEN pk = ... THEN ...`` per row and field, whose cost
grows with the square of the rows on PostgreSQL. Joining a VALUES list grows linearly and, with
``RETURNING``, hands back the new rows whole. Used only where it writes exactly what Django would:
plain values (no expressions), each pk once, fields without a custom placeholder.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

from django.db import connections, models

from .rows import instances_from_rows

M = TypeVar("M", bound=models.Model)


def applies(model: type[models.Model], alias: str, objs: Sequence[models.Model], fields: Sequence[Any]) -> bool:
    connection = connections[alias]
    if connection.vendor != "postgresql" or model._meta.parents:
        return False
    if any(hasattr(f, "get_placeholder") or hasattr(f, "get_placeholder_sql") for f in fields):
        return False
    pks = [obj.pk for obj in objs]
    if len(set(pks)) != len(pks):
        return False
    return not any(hasattr(getattr(obj, f.attname), "resolve_expression") for obj in objs for f in fields)


def bulk_update(
    model: type[M], alias: str, objs: Sequence[M], fields: Sequence[Any], batch_size: int | None
) -> tuple[int, dict[Hashable, M]]:
    """Write ``fields`` of ``objs``; return Django's count (rows matched) and the new rows by pk.

    The statement has no WHERE of the caller's queryset: pass only the objects whose rows it matched.
    """
    if not objs:
        return 0, {}
    connection = connections[alias]
    qn = connection.ops.quote_name
    opts = model._meta
    pk = opts.pk
    table = qn(opts.db_table)
    written = [pk, *fields]
    casts = [f"%s::{field.db_type(connection)}" for field in written]
    returning = ", ".join(f"{table}.{qn(f.column)}" for f in opts.concrete_fields)
    assignments = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in fields)
    names = ", ".join(qn(f.column) for f in written)
    size = batch_size or len(objs)
    count, found = 0, {}
    for start in range(0, len(objs), size):
        batch = objs[start : start + size]
        rows = ", ".join(f"({', '.join(casts)})" for _ in batch)
        params = [f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in batch for f in written]
        sql = (
            f"UPDATE {table} SET {assignments} FROM (VALUES {rows}) AS v({names}) "
            f"WHERE {table}.{qn(pk.column)} = v.{qn(pk.column)} RETURNING {returning}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            returned = cursor.fetchall()
        count += len(returned)
        found.update(instances_from_rows(model, alias, returned))
    return count, found
