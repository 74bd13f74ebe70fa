"""System checks: configuration that would make tracking silently incomplete."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.models)
def check_field_trackers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W001: a BulkTrackerModel without a FieldTracker cannot report single-row saves."""
    from .models import BulkTrackerModel, find_field_tracker

    configs = app_configs or apps.get_app_configs()
    return [
        Warning(
            f"{model._meta.label} is a BulkTrackerModel without a FieldTracker: save() cannot report old values.",
            hint="Add `tracker = FieldTracker()` (from model_utils import FieldTracker) to the model.",
            obj=model,
            id="bulk_tracker.W001",
        )
        for config in configs
        for model in config.get_models()
        if issubclass(model, BulkTrackerModel) and find_field_tracker(model) is None
    ]
