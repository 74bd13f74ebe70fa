"""System checks: E001 (django-bulk-tracker installed too), W002 (database-level on_delete next to a tracked
model) and W004 (a tracked generated field)."""

import importlib.metadata

import pytest
from django.core import checks
from django.db import models
from django.test.utils import isolate_apps

from bulk_tracker.checks import check_old_distribution
from testapp.models import Author


@pytest.mark.skipif(not hasattr(models, "DB_CASCADE"), reason="database-level on_delete arrived in Django 6.1")
@isolate_apps("testapp")
def test_database_level_on_delete_next_to_a_tracked_model_is_a_warning():
    from bulk_tracker.checks import database_on_delete_warnings

    class Child(models.Model):
        author = models.ForeignKey(Author, on_delete=models.DB_CASCADE)

        class Meta:
            app_label = "testapp"

    class Plain(models.Model):
        class Meta:
            app_label = "testapp"

    class PlainChild(models.Model):
        plain = models.ForeignKey(Plain, on_delete=models.DB_CASCADE)

        class Meta:
            app_label = "testapp"

    [warning] = database_on_delete_warnings([Child, Plain, PlainChild])
    assert warning.id == "bulk_tracker.W002"
    assert warning.obj is Child._meta.get_field("author")
    assert "DB_CASCADE" in warning.msg


@pytest.fixture
def old_distribution_installed(tmp_path, monkeypatch):
    """django-bulk-tracker 0.2.1 as pip leaves it: a dist-info folder on sys.path, found by importlib.metadata."""
    dist_info = tmp_path / "django_bulk_tracker-0.2.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: django-bulk-tracker\nVersion: 0.2.1\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # also invalidates the import and metadata caches
    assert importlib.metadata.version("django-bulk-tracker") == "0.2.1"


def test_no_error_without_the_old_distribution():
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("django-bulk-tracker")
    assert check_old_distribution() == []
    assert [m for m in checks.run_checks(tags=[checks.Tags.compatibility]) if m.id == "bulk_tracker.E001"] == []


@pytest.mark.usefixtures("old_distribution_installed")
def test_the_old_distribution_installed_too_is_an_error_with_the_fix():
    [error] = [m for m in checks.run_checks(tags=[checks.Tags.compatibility]) if m.id == "bulk_tracker.E001"]
    assert type(error) is checks.Error
    assert error.is_serious()
    assert error.msg.startswith("django-bulk-tracker 0.2.1 is installed next to bulk-tracker-django.")
    assert error.hint == (
        "Run `pip uninstall django-bulk-tracker`, then `pip install --force-reinstall --no-deps bulk-tracker-django` "
        "to put back the files the uninstall removed."
    )
    assert check_old_distribution() == [error]


@pytest.mark.skipif(not hasattr(models, "GeneratedField"), reason="GeneratedField arrived in Django 5.0")
def test_a_field_tracker_that_tracks_a_generated_field_is_a_warning():
    from bulk_tracker.checks import generated_field_warnings
    from testapp.models import Gauge, Parcel

    (warning,) = generated_field_warnings([Gauge, Parcel])  # Parcel's tracker leaves its generated field out
    assert (warning.id, warning.obj) == ("bulk_tracker.W004", Gauge)
    assert warning.msg.startswith("testapp.Gauge.tracker tracks the generated field(s) doubled.")
    assert "FieldTracker(fields=[...])" in warning.hint


@isolate_apps("testapp")
def test_an_m2m_opt_in_that_cannot_be_honoured_is_an_error():
    from bulk_tracker.checks import m2m_opt_in_errors
    from bulk_tracker.models import BulkTrackerModel
    from testapp.models import Label

    class Typo(BulkTrackerModel):
        labels = models.ManyToManyField(Label, related_name="+")
        bulk_tracker_m2m = ("lables",)

        class Meta:
            app_label = "testapp"

    class Untracked(models.Model):
        labels = models.ManyToManyField(Label, related_name="+")
        bulk_tracker_m2m = "__all__"

        class Meta:
            app_label = "testapp"

    class OneString(BulkTrackerModel):
        labels = models.ManyToManyField(Label, related_name="+")
        bulk_tracker_m2m = "labels"

        class Meta:
            app_label = "testapp"

    class Fine(BulkTrackerModel):
        labels = models.ManyToManyField(Label, related_name="+")
        bulk_tracker_m2m = ("labels",)

        class Meta:
            app_label = "testapp"

    errors = m2m_opt_in_errors([Typo, Untracked, OneString, Fine])
    assert [(e.id, e.obj) for e in errors] == [
        ("bulk_tracker.E005", Typo),
        ("bulk_tracker.E005", Untracked),
        ("bulk_tracker.E005", OneString),
    ]
    assert "names 'lables'" in errors[0].msg
    assert errors[0].hint == "Its many-to-many fields: labels."
    assert "does not track" in errors[1].msg
    assert "the string 'labels'" in errors[2].msg
