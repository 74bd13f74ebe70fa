"""System check bulk_tracker.W001: a BulkTrackerModel without a FieldTracker."""

import pytest
from django.apps import apps
from django.core import checks

from bulk_tracker.checks import check_field_trackers
from testapp.models import Untracked


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
