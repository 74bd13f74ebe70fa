"""Helpers the tests share: the statements an operation runs, a receiver connected for a block."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.db.models import Model
from django.dispatch import Signal
from django.test.utils import CaptureQueriesContext

# Statements of a tracked update() that changes rows, by vendor. PostgreSQL: one UPDATE ... FROM (the
# locked read) ... RETURNING old and new. SQLite: the locked read, then UPDATE ... RETURNING. MariaDB
# has no UPDATE RETURNING, so it reads the changed rows in a third statement.
UPDATE_STATEMENTS = {"postgresql": 1, "sqlite": 2, "mysql": 3}


def sql_of(run: Callable[[], Any]) -> list[str]:
    """The SQL of every statement ``run()`` sends to the default database, in order."""
    with CaptureQueriesContext(connection) as queries:
        run()
    return [query["sql"] for query in queries]


@contextmanager
def connected(signal: Signal, receiver: Callable[..., Any], sender: type[Model] | None = None) -> Iterator[None]:
    """``receiver`` connected to ``signal`` (strongly; for ``sender`` only, if given) during the block."""
    uid = f"tests.connected.{id(receiver)}"
    signal.connect(receiver, sender=sender, weak=False, dispatch_uid=uid)
    try:
        yield
    finally:
        signal.disconnect(sender=sender, dispatch_uid=uid)
