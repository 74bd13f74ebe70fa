"""The plugin as users get it: installed, no conftest.py, pytest run in a subprocess."""

import os
from pathlib import Path

import pytest

DJANGO_TEST_PROJECT = Path(__file__).parents[2] / "bulk-tracker-django" / "tests"

INNER_TESTS = """
import pytest
from testapp.models import Author

pytestmark = pytest.mark.django_db


def test_passes(capture_signals):
    author = Author.objects.create(name="old")
    with capture_signals() as captured:
        Author.objects.update(name="new")
    captured.assert_updated(Author, 1, changed_values={author.pk: {"name": "old"}})


@pytest.mark.django_db(transaction=True)
def test_passes_with_real_commits(capture_signals):
    with capture_signals() as captured:
        Author.objects.create(name="new")
    captured.assert_created(Author, 1)


def test_fails(capture_signals):
    Author.objects.create(name="old")
    with capture_signals() as captured:
        Author.objects.update(name="new")
    captured.assert_updated(Author, count=2)
"""


@pytest.fixture
def project(pytester, monkeypatch):
    """A user's project: settings in pytest.ini, a test file, and no conftest.py."""
    # Test databases of its own: the outer run's are in use.
    monkeypatch.setenv(
        "BULK_TRACKER_TEST_DB_NAME", os.environ.get("BULK_TRACKER_TEST_DB_NAME", "bulk_tracker") + "_inner"
    )
    pytester.makeini(f"[pytest]\nDJANGO_SETTINGS_MODULE = django_settings\npythonpath = {DJANGO_TEST_PROJECT}\n")
    pytester.makepyfile(test_inner=INNER_TESTS)
    assert not list(pytester.path.glob("conftest.py"))
    return pytester


def test_fixture_and_failure_message(project):
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: Expected 2 updated testapp.Author row(s), got 1.",
            "E * Captured: 1 signal call(s):",
            "E *   1. update testapp.Author using='default': 1 row(s) [[]pk=* {'name': 'old'}[]]",
            "FAILED test_inner.py::test_fails - AssertionError: Expected 2 updated*",
        ]
    )


def test_registered_through_the_entry_point(project):
    result = project.runpytest_subprocess("--trace-config", "--fixtures")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "registered third-party plugins:",
            "  bulk-tracker-testing-* at */bulk_tracker_testing/plugin.py",
            "active plugins:",
            "    bulk_tracker * : */bulk_tracker_testing/plugin.py",
            "*fixtures defined from bulk_tracker_testing.plugin*",
            "capture_signals -- */bulk_tracker_testing/plugin.py:*",
        ]
    )
