"""System checks: W001 (no FieldTracker) and W002 (database-level on_delete next to a tracked model)."""

import pytest
from django.apps import apps
from django.core import checks
from django.db import models
from django.test.utils import isolate_apps

from bulk_tracker.checks import check_field_trackers
from testapp.models import Author, Untracked


def w001(messages):
    return [message for message in messages if message.id == "bulk_tracker.W001"]


@pytest.mark.django_db(databases=["default", "other"])  # some of Django's own checks ask the backend
def test_run_checks_warns_once_for_the_model_without_a_tracker():
    (warning,) = w001(checks.run_checks())
    assert type(warning) is checks.Warning
    assert warning.obj is Untracked
    assert warning.msg.startswith("testapp.Untracked is a BulkTrackerModel without a FieldTracker")
    assert "tracker = FieldTracker()" in warning.hint


def test_models_with_a_tracker_and_other_apps_pass():
    testapp = apps.get_app_config("testapp")
    assert [w.obj for w in check_field_trackers(app_configs=[testapp])] == [Untracked]
    assert check_field_trackers(app_configs=[apps.get_app_config("auth")]) == []


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
