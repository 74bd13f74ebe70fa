"""One implementation on one database: seeds, runs one operation when asked, checks what it delivered.

Started by ``harness.py`` inside the implementation's own hatch environment::

    python benchmarks/worker.py --impl ours --db sqlite

then driven through stdin, one JSON command a line (``{"op": "run", "scenario": "update_f", "rows":
1000, "memory": false}``, ``{"op": "quit"}``), each answered by one stdout line starting with PREFIX.
The driver interleaves the implementations run by run, so a machine that slows down meanwhile slows
them all alike.

Each measured operation runs in its own ``transaction.atomic()``, so the time includes the commit
and the ``on_commit`` delivery to the receivers. Every run starts from freshly seeded tables.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import time
import traceback
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
IMPLS = (
    "django",
    "ours",
    "ours-idle",
    "ours-reads",
    "upstream",
    "pghistory",
    "django-relist",
    "django-by-hand",
    "django-listener",
    "ours-floor",
)
SIGNAL_IMPLS = ("ours", "ours-reads", "upstream")  # a receiver is connected to each of their three signals
STAMP = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START TRANSACTION")
MAX_ERRORS = 5  # per run: enough to see the pattern
PREFIX = "@@bench "  # starts every line of the worker's answers on stdout


# --- scenarios ------------------------------------------------------------------------------------


def tenth(n: int) -> int:
    """How many of ``n`` seeded rows have group 0 (seq % 10 == 0)."""
    return (n + 9) // 10


def saves(n: int) -> int:
    return min(n, 1000)


@dataclass
class Scenario:
    id: str
    title: str
    op: Callable[[Any], Any]
    # signal name ("create"/"update"/"delete") and model name -> objects expected, for n rows
    deliveries: Callable[[int], dict[tuple[str, str], int]]
    result: Callable[[int], Any]  # the expected return value, or None when it is not checked
    db_check: Callable[[int], tuple[str, int, int]]  # (what, counted, expected)
    prepare: Callable[[int], Any] = lambda n: None
    seed: bool = True
    children: bool = False
    old: Callable[[int], dict[str, Any]] | None = None  # changed_values expected for seq
    new: Callable[[int], dict[str, Any]] | None = None  # attributes expected of the instance for seq
    reference: bool = False  # no write: a yardstick, not a scenario of the issue
    # update() scenarios: the rows written and the values, for the ways Django does the same by hand
    rows_of: Callable[[], Any] | None = None
    values: Callable[[], dict[str, Any]] | None = None


class _RolledBackError(Exception):
    pass


def statements_of(scenario: Scenario, ctx: Any) -> list[tuple[str, Any, bool]]:
    """The statements ours sends for ``scenario`` (transaction control left out), run once and rolled back."""
    from django.db import connection, transaction

    sent: list[tuple[str, Any, bool]] = []

    def capture(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            sent.append((sql, params, many))
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(capture), transaction.atomic():
            scenario.op(ctx)
            raise _RolledBackError
    except _RolledBackError:
        pass
    return sent


def replay(sent: list[tuple[str, Any, bool]]) -> Callable[[Any], None]:
    """What the database and its driver alone take for ``sent``: each statement sent again, its rows fetched."""
    from django.db import connection

    def run(ctx: Any) -> None:
        with connection.cursor() as cursor:
            for sql, params, many in sent:
                if many:
                    cursor.executemany(sql, params)
                else:
                    cursor.execute(sql, params)
                if cursor.description is not None:
                    cursor.fetchall()

    return run


def relist(scenario: Scenario) -> int:
    """Django's update(), then ``list()`` of the rows it wrote: the yardstick of a receiver reading everything."""
    count = scenario.rows_of().update(**scenario.values())
    list(scenario.rows_of())
    return count


def by_hand(scenario: Scenario) -> int:
    """What a user writes instead of tracking: read the rows under lock, update exactly them, read them again."""
    rows = scenario.rows_of()
    old = {obj.pk: obj for obj in rows.select_for_update().order_by("pk")}
    written = rows.model.objects.filter(pk__in=list(old))
    count = written.update(**scenario.values())
    new = {obj.pk: obj for obj in written.order_by("pk")}
    assert len(new) == len(old)
    return count


def build_scenarios() -> dict[str, Scenario]:
    from benchapp.models import Child, Item
    from django.db.models import F

    def load(n: int) -> list[Any]:
        return list(Item.objects.order_by("pk"))

    def bulk_update_prepare(n: int) -> list[Any]:
        objs = load(n)
        for obj in objs:
            obj.name = f"bulk-{obj.seq}"
            obj.n = -obj.seq - 1
        return objs

    def save_prepare(n: int) -> list[Any]:
        objs = list(Item.objects.order_by("pk")[: saves(n)])
        for obj in objs:
            obj.n = -obj.seq - 1
        return objs

    def save_all(objs: list[Any]) -> None:
        for obj in objs:
            obj.save()

    def new_items(n: int) -> list[Any]:
        return [
            Item(seq=i, name=f"new-{i}", n=i, price=price(i), flag=False, group=i % 10, stamp=STAMP) for i in range(n)
        ]

    scenarios = [
        Scenario(
            "update_const",
            "`update()` of all rows to a constant",
            op=lambda ctx: Item.objects.update(name="constant"),
            rows_of=lambda: Item.objects.all(),
            values=lambda: {"name": "constant"},
            deliveries=lambda n: {("update", "Item"): n},
            result=lambda n: n,
            db_check=lambda n: ("rows named 'constant'", Item.objects.filter(name="constant").count(), n),
            old=lambda seq: {"name": f"name-{seq}"},
            new=lambda seq: {"name": "constant"},
        ),
        Scenario(
            "update_f",
            '`update()` with `F("n") + 1`',
            op=lambda ctx: Item.objects.update(n=F("n") + 1),
            rows_of=lambda: Item.objects.all(),
            values=lambda: {"n": F("n") + 1},
            deliveries=lambda n: {("update", "Item"): n},
            result=lambda n: n,
            db_check=lambda n: ("rows with n = seq + 1", Item.objects.filter(n=F("seq") + 1).count(), n),
            old=lambda seq: {"n": seq},
            new=lambda seq: {"n": seq + 1},
        ),
        Scenario(
            "update_10pct",
            "`update()` matching 10% of the rows",
            op=lambda ctx: Item.objects.filter(group=0).update(name="constant"),
            rows_of=lambda: Item.objects.filter(group=0),
            values=lambda: {"name": "constant"},
            deliveries=lambda n: {("update", "Item"): tenth(n)},
            result=tenth,
            db_check=lambda n: ("rows named 'constant'", Item.objects.filter(name="constant").count(), tenth(n)),
            old=lambda seq: {"name": f"name-{seq}"},
            new=lambda seq: {"name": "constant", "group": 0},
        ),
        Scenario(
            "update_noop",
            "`update()` that changes nothing",
            op=lambda ctx: Item.objects.update(flag=False),
            rows_of=lambda: Item.objects.all(),
            values=lambda: {"flag": False},
            deliveries=lambda n: {},
            result=lambda n: n,
            db_check=lambda n: ("rows with flag False", Item.objects.filter(flag=False).count(), n),
        ),
        Scenario(
            "bulk_update",
            "`bulk_update()` of 2 fields",
            prepare=bulk_update_prepare,
            op=lambda objs: Item.objects.bulk_update(objs, ["name", "n"]),
            deliveries=lambda n: {("update", "Item"): n},
            result=lambda n: n,
            db_check=lambda n: ("rows with n < 0", Item.objects.filter(n__lt=0).count(), n),
            old=lambda seq: {"name": f"name-{seq}", "n": seq},
            new=lambda seq: {"name": f"bulk-{seq}", "n": -seq - 1},
        ),
        Scenario(
            "bulk_create",
            "`bulk_create()`",
            seed=False,
            prepare=new_items,
            op=lambda objs: Item.objects.bulk_create(objs),
            deliveries=lambda n: {("create", "Item"): n},
            result=lambda n: n,  # compared with len() of the returned list
            db_check=lambda n: ("rows", Item.objects.count(), n),
            old=lambda seq: {},
            new=lambda seq: {"name": f"new-{seq}", "n": seq},
        ),
        Scenario(
            "delete_cascade",
            "`delete()` with one cascaded child per row",
            children=True,
            op=lambda ctx: Item.objects.all().delete(),
            deliveries=lambda n: {("delete", "Item"): n, ("delete", "Child"): n},
            result=lambda n: 2 * n,  # compared with the total Django returns
            db_check=lambda n: ("rows left (items + children)", Item.objects.count() + Child.objects.count(), 0),
            old=lambda seq: {},
        ),
        Scenario(
            "save_1000",
            "1,000 single `save()` calls",
            prepare=save_prepare,
            op=save_all,
            deliveries=lambda n: {("update", "Item"): saves(n)},
            result=lambda n: None,
            db_check=lambda n: ("rows with n < 0", Item.objects.filter(n__lt=0).count(), saves(n)),
            old=lambda seq: {"n": seq},
            new=lambda seq: {"n": -seq - 1},
        ),
        Scenario(
            "load_all",
            "reference: `list(Item.objects.all())`",
            op=lambda ctx: list(Item.objects.all()),
            deliveries=lambda n: {},
            result=lambda n: n,
            db_check=lambda n: ("rows", Item.objects.count(), n),
            reference=True,
        ),
    ]
    return {scenario.id: scenario for scenario in scenarios}


def price(i: int) -> Decimal:
    return Decimal(i % 1000) + Decimal("0.25")


# --- database -------------------------------------------------------------------------------------


def create_database(db: str, name: str) -> None:
    """A new, empty database for this worker (the server's, or a new SQLite file)."""
    from django.db import connection

    if db == "sqlite":
        return
    with connection._nodb_cursor() as cursor:
        if db == "postgres":
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
        else:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")


def server_info(db: str) -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        if db == "sqlite":
            import sqlite3

            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            return {
                "server": f"SQLite {sqlite3.sqlite_version}",
                "journal_mode": journal,
                "synchronous": cursor.fetchone()[0],
            }
        if db == "postgres":
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
            cursor.execute("SHOW jit")
            jit = cursor.fetchone()[0]
            return {"server": f"PostgreSQL {version}", "jit": jit}
        cursor.execute("SELECT VERSION()")
        return {"server": f"MariaDB {cursor.fetchone()[0]}"}


def bench_tables() -> list[str]:
    from django.apps import apps

    return [model._meta.db_table for model in apps.get_app_config("benchapp").get_models()]


def event_tables() -> list[str]:
    from django.apps import apps

    return [
        model._meta.db_table
        for model in apps.get_app_config("benchapp").get_models()
        if model.__name__.endswith("Event")
    ]


def reset(db: str) -> None:
    """Empty every table of benchapp (pghistory's event tables too) and restart the ids."""
    from django.db import connection

    tables = bench_tables()
    with connection.cursor() as cursor:
        if db == "postgres":
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        elif db == "mariadb":
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            for table in tables:
                cursor.execute(f"TRUNCATE TABLE {table}")
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
        else:
            for table in reversed(tables):  # children first
                cursor.execute(f"DELETE FROM {table}")
            cursor.execute("DELETE FROM sqlite_sequence")


def template(n: int, kind: str) -> str:
    return f"bench_tpl_{kind}_{n}"


def build_templates(db: str, n: int) -> None:
    """Seed n items with one child each through Django once, and keep a copy of both tables."""
    from benchapp.models import Child, Item
    from django.db import connection, models, transaction

    reset(db)
    with transaction.atomic():
        items = [
            Item(seq=i, name=f"name-{i}", n=i, price=price(i), flag=False, group=i % 10, stamp=STAMP) for i in range(n)
        ]
        models.QuerySet(model=Item).bulk_create(items, batch_size=5000)  # Django's own: never tracked
        pks = list(Item.objects.order_by("pk").values_list("pk", flat=True))
        kids = [Child(item_id=pk, label=f"child-{pk}") for pk in pks]
        models.QuerySet(model=Child).bulk_create(kids, batch_size=5000)
        with connection.cursor() as cursor:
            for kind, model in (("item", Item), ("child", Child)):
                cursor.execute(f"DROP TABLE IF EXISTS {template(n, kind)}")
                cursor.execute(f"CREATE TABLE {template(n, kind)} AS SELECT * FROM {model._meta.db_table}")


def seed(db: str, n: int, scenario: Scenario, templates: set[int]) -> None:
    """Fresh tables: n items (and one child each) copied from the template, around every tracker."""
    from benchapp.models import Child, Item
    from django.db import connection, transaction

    if scenario.seed and n not in templates:
        build_templates(db, n)
        templates.add(n)
    reset(db)
    if scenario.seed:
        with transaction.atomic(), connection.cursor() as cursor:
            if db == "postgres":
                cursor.execute("SET LOCAL session_replication_role = replica")  # no trigger fires (pghistory's)
            copies = [(Item, "item"), (Child, "child")] if scenario.children else [(Item, "item")]
            for model, kind in copies:
                cursor.execute(f"INSERT INTO {model._meta.db_table} SELECT * FROM {template(n, kind)}")
                if db == "postgres":
                    table = model._meta.db_table
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
    if db == "postgres":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(bench_tables())}")


# --- measuring ------------------------------------------------------------------------------------


class Recorder:
    """The one receiver per signal: keeps what was delivered, for the checks after the run."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, type, list[Any]]] = []

    def receiver(self, name: str, reads: bool = False) -> Callable[..., None]:
        def receive(sender: type, objects: list[Any], **kwargs: Any) -> None:
            self.batches.append((name, sender, objects))
            if reads:  # every field of every instance, as an audit log or a search index would
                names = [field.attname for field in sender._meta.concrete_fields]
                for changed in objects:
                    instance = changed.instance
                    for attname in names:
                        getattr(instance, attname)

        return receive


class Statements:
    """connection.execute_wrapper counting the statements sent (transaction control left out)."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            self.sql.append(sql)
        return execute(sql, params, many, context)

    def digest(self) -> str:
        return hashlib.sha1("\n".join(self.sql).encode()).hexdigest()[:12]


class StatementTimeoutError(Exception):
    """A statement ran longer than --timeout and the server cancelled it."""


@dataclass
class Run:
    seconds: float
    statements: int
    digest: str
    errors: list[str] = field(default_factory=list)
    peak_bytes: int | None = None


class Worker:
    def __init__(self, impl: str, db: str, timeout: float | None) -> None:
        self.impl = impl
        self.db = db
        self.timeout = timeout
        self.recorder = Recorder()
        self.scenarios = build_scenarios()
        self.templates: set[int] = set()
        self.notes: set[str] = set()
        if impl in (*SIGNAL_IMPLS, "ours-floor"):
            from bulk_tracker.signals import post_create_signal, post_delete_signal, post_update_signal

            for name, signal in (
                ("create", post_create_signal),
                ("update", post_update_signal),
                ("delete", post_delete_signal),
            ):
                receiver = self.recorder.receiver(name, reads=impl == "ours-reads")
                signal.connect(receiver, weak=False, dispatch_uid=f"bench-{name}")
        if impl == "django-listener":
            from django.db.models.signals import post_delete

            post_delete.connect(lambda **kwargs: None, weak=False, dispatch_uid="bench-post-delete")

    def run_once(self, scenario: Scenario, n: int, memory: bool = False) -> Run:
        from django.db import OperationalError, connection, transaction

        seed(self.db, n, scenario, self.templates)
        ctx = scenario.prepare(n)
        op = scenario.op
        if self.impl in ("django-relist", "django-by-hand"):
            way = relist if self.impl == "django-relist" else by_hand
            op = lambda ctx: way(scenario)  # noqa: E731
        elif self.impl == "ours-floor":
            op = replay(statements_of(scenario, ctx))
        self.recorder.batches.clear()
        statements = Statements()
        gc.collect()
        if memory:
            tracemalloc.start()
        try:
            with connection.execute_wrapper(statements):
                start = time.perf_counter()
                try:
                    with transaction.atomic():
                        result = op(ctx)
                except OperationalError:
                    elapsed = time.perf_counter() - start
                    if self.timeout and elapsed >= self.timeout * 0.9:
                        raise StatementTimeoutError(elapsed) from None
                    raise
                seconds = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1] if memory else None
        finally:
            if memory:
                tracemalloc.stop()
        del ctx
        run = Run(seconds, len(statements.sql), statements.digest(), peak_bytes=peak)
        run.errors = self.check(scenario, n, result)
        self.recorder.batches.clear()
        return run

    # --- the checks -----------------------------------------------------------------------------

    def check(self, scenario: Scenario, n: int, result: Any) -> list[str]:
        errors: list[str] = []
        expected = scenario.result(n)
        got = result
        if self.impl == "ours-floor":
            expected = None  # statements replayed: no ORM call to return anything; the database is checked
        elif scenario.id == "bulk_create" or scenario.reference:
            got = len(result)
        elif scenario.id == "delete_cascade":
            got = result[0]
        elif scenario.id == "bulk_update" and self.impl == "upstream":
            expected = None  # django-bulk-tracker 0.2.1's bulk_update() returns None
        if expected is not None and got != expected:
            errors.append(f"returned {got!r}, expected {expected!r}")
        what, counted, wanted = scenario.db_check(n)
        if counted != wanted:
            errors.append(f"database holds {counted} {what}, expected {wanted}")
        if self.impl in SIGNAL_IMPLS:
            errors += self.check_signals(scenario, n)
        elif self.impl == "pghistory":
            errors += self.check_events(scenario, n)
        return errors

    def check_signals(self, scenario: Scenario, n: int) -> list[str]:
        """Every delivered object, without a query per object (deferred fields are never loaded)."""
        from benchapp.models import Item
        from django.db import connection

        errors: list[str] = []
        counts: Counter[tuple[str, str]] = Counter()
        for name, sender, objects in self.recorder.batches:
            counts[name, sender.__name__] += len(objects)
        expected = scenario.deliveries(n)
        for key in sorted(set(counts) | set(expected)):
            if counts[key] != expected.get(key, 0):
                errors.append(
                    f"{key[0]} signal for {key[1]}: {counts[key]} objects delivered, expected {expected.get(key, 0)}"
                )
        returns_pks = connection.features.can_return_rows_from_bulk_insert
        seqs: dict[Any, int] = {}
        for name, sender, objects in self.recorder.batches:
            seen = set()
            for obj in objects:
                instance = obj.instance
                if not isinstance(instance, sender):
                    errors.append(f"{name} signal for {sender.__name__} delivered a {type(instance).__name__}")
                    continue
                key = instance.pk if instance.pk is not None else id(instance)
                if key in seen:
                    errors.append(f"{name} signal for {sender.__name__} delivered pk {instance.pk} twice")
                seen.add(key)
                if name == "create" and returns_pks and instance.pk is None:
                    errors.append(f"created {sender.__name__} delivered without its pk")
                deferred = instance.get_deferred_fields()
                if deferred:
                    if self.impl == "ours":
                        errors.append(
                            f"{name} of {sender.__name__} pk={instance.pk}: fields {sorted(deferred)} not loaded"
                        )
                    else:
                        self.notes.add(f"`{name}` instances are delivered with only some fields loaded")
                if sender is not Item or scenario.old is None:
                    continue
                seq = instance.__dict__.get("seq")
                if seq is None:
                    seqs = seqs or dict(Item.objects.values_list("pk", "seq"))
                    seq = seqs[instance.pk]
                if obj.changed_values != scenario.old(seq):
                    wanted = scenario.old(seq)
                    got = obj.changed_values
                    errors.append(f"{name} of Item seq={seq}: changed_values {got!r}, expected {wanted!r}")
                for attr, value in (scenario.new(seq) if scenario.new else {}).items():
                    if attr in instance.__dict__ and instance.__dict__[attr] != value:
                        errors.append(
                            f"{name} of Item seq={seq}: {attr}={instance.__dict__[attr]!r}, expected {value!r}"
                        )
                if len(errors) > MAX_ERRORS:
                    return errors
        return errors

    def check_events(self, scenario: Scenario, n: int) -> list[str]:
        """pghistory: one event row per changed row, with the row's values."""
        from django.apps import apps
        from django.db.models import Count

        labels = {"create": "insert", "update": "update", "delete": "delete"}
        expected = {
            (labels[signal], f"{model}Event"): count for (signal, model), count in scenario.deliveries(n).items()
        }
        counts: Counter[tuple[str, str]] = Counter()
        models = [m for m in apps.get_app_config("benchapp").get_models() if m.__name__.endswith("Event")]
        for model in models:
            for row in model.objects.values("pgh_label").annotate(c=Count("pk")):
                counts[row["pgh_label"], model.__name__] += row["c"]
        errors = [
            f"{key[1]} has {counts[key]} '{key[0]}' events, expected {expected.get(key, 0)}"
            for key in sorted(set(counts) | set(expected))
            if counts[key] != expected.get(key, 0)
        ]
        if scenario.new is not None:
            event_model = apps.get_model("benchapp", "ItemEvent")
            for event in event_model.objects.order_by("pgh_id")[:50]:
                for attr, value in scenario.new(event.seq).items():
                    if getattr(event, attr) != value:
                        errors.append(f"ItemEvent seq={event.seq}: {attr}={getattr(event, attr)!r}, expected {value!r}")
        return errors[: MAX_ERRORS + 1]

    # --- one scenario at one size ---------------------------------------------------------------


def versions(impl: str) -> dict[str, str]:
    wanted = ["Django", "psycopg", "psycopg-binary", "mysqlclient", "django-model-utils"]
    wanted += {
        "ours": ["bulk-tracker-django", "bulk-tracker-core"],
        "ours-idle": ["bulk-tracker-django", "bulk-tracker-core"],
        "upstream": ["django-bulk-tracker"],
        "pghistory": ["django-pghistory", "django-pgtrigger"],
    }.get(impl, [])
    found = {"Python": platform.python_version()}
    for name in wanted:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def setup(impl: str, db: str, timeout: float, pg_jit: str, data_dir: Path) -> None:
    """Django configured for ``impl`` on a new, empty database of ``db``, with the schema."""
    db_name = f"bulk_tracker_bench_{impl.replace('-', '_')}"
    os.environ.update(BENCH_IMPL=impl, BENCH_DB=db, BENCH_DB_NAME=db_name, BENCH_PG_JIT=pg_jit)
    if db == "sqlite":
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / f"{db_name}.sqlite3"
        for leftover in (path, path.with_name(path.name + "-journal"), path.with_name(path.name + "-wal")):
            leftover.unlink(missing_ok=True)
        os.environ["BENCH_SQLITE_PATH"] = str(path)
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchsite.settings"
    sys.path.insert(0, str(HERE))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.backends.signals import connection_created

    create_database(db, db_name)
    connection.close()
    if timeout:

        def limit(sender: Any, connection: Any, **kwargs: Any) -> None:
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute(f"SET statement_timeout = {int(timeout * 1000)}")
                elif connection.vendor == "mysql":
                    cursor.execute(f"SET SESSION max_statement_time = {timeout}")

        connection_created.connect(limit, weak=False)
    call_command("migrate", run_syncdb=True, verbosity=0)
    if impl == "pghistory":
        import pgtrigger

        pgtrigger.install()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgtrigger_%'")
            installed = cursor.fetchone()[0]
        if installed < 6:
            raise RuntimeError(f"pghistory: {installed} triggers installed, expected 6")


def reply(message: dict[str, Any]) -> None:
    """One answer to the driver: a line of its own on stdout, whatever else may be printed."""
    sys.stdout.write(PREFIX + json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", choices=IMPLS, required=True)
    parser.add_argument("--db", choices=("sqlite", "postgres", "mariadb"), required=True)
    parser.add_argument("--timeout", type=float, default=0, help="seconds; 0: none")
    parser.add_argument("--pg-jit", choices=("default", "on", "off"), default="default")
    parser.add_argument("--data-dir", type=Path, default=HERE / ".data")
    args = parser.parse_args()

    setup(args.impl, args.db, args.timeout, args.pg_jit, args.data_dir)
    worker = Worker(args.impl, args.db, args.timeout or None)
    titles = {key: (scenario.title, scenario.reference) for key, scenario in worker.scenarios.items()}
    reply({"ready": True, "versions": versions(args.impl), "server": server_info(args.db), "scenarios": titles})
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            reply({"notes": sorted(worker.notes)})
            return 0
        scenario = worker.scenarios[command["scenario"]]
        answer: dict[str, Any] = {"status": "ok"}
        try:
            run = worker.run_once(scenario, command["rows"], memory=command.get("memory", False))
            answer.update(seconds=run.seconds, statements=run.statements, digest=run.digest, peak=run.peak_bytes)
            if run.errors:
                answer.update(status="failed", errors=run.errors)
        except StatementTimeoutError as timeout:
            answer.update(status="timeout", elapsed=timeout.args[0])
        except Exception:
            answer.update(status="error", errors=[traceback.format_exc(limit=8)])
        reply(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
