"""``manage.py tour`` on a database with no tables at all: it migrates first, quietly, then tours."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

SAMPLE_SITE = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_database_url(tmp_path: Path, django_db_blocker: Any) -> Iterator[str]:
    """The URL of a database that does not exist yet (SQLite) or has just been created empty (the servers)."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    db = settings.DATABASES["default"]
    name = f"{settings.TEST_DATABASE_NAME}_fresh_tour"
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[connection.vendor]
    with django_db_blocker.unblock():
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
            cursor.execute(f"CREATE DATABASE {name}")
        try:
            yield f"{scheme}://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
        finally:
            with connection._nodb_cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {name}")


def tour(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAMPLE_DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "sample_site.settings"}
    return subprocess.run(
        [sys.executable, str(SAMPLE_SITE / "manage.py"), "tour"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_tour_runs_on_a_fresh_database_and_again_on_its_own_result(fresh_database_url: str) -> None:
    first = tour(fresh_database_url)
    assert (first.returncode, first.stderr) == (0, "")
    lines = first.stdout.splitlines()
    assert lines[0] == "Book.objects.update(price=Round(F('price') * Decimal('1.1'), 2))"  # no migrate output
    assert "  -> post_update(Book): 6 row(s)  (raise prices by 10%)" in lines
    assert "       #2 A Wizard of Earthsea  {'price': Decimal('9.08'), 'stock': 7}" in lines  # 8.25 * 1.1 = 9.075
    assert "  -> post_delete(Author): 1 row(s)  (delete Iain M. Banks and their books)" in lines
    assert "Applying" not in first.stdout
    second = tour(fresh_database_url)
    assert (second.returncode, second.stderr) == (0, "")  # the first tour deleted the two Banks books
    assert "  -> post_update(Book): 4 row(s)  (raise prices by 10%)" in second.stdout.splitlines()
