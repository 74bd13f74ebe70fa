"""System checks: an installation or configuration that would break tracking or make it silently incomplete."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import models

from .registry import is_tracked

OLD_DISTRIBUTION = "django-bulk-tracker"


@register(Tags.compatibility)
def check_old_distribution(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E001: django-bulk-tracker installed too shares the ``bulk_tracker`` folder; uninstalling it deletes ours."""
    try:
        old = importlib.metadata.distribution(OLD_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return []
    return [
        Error(
            f"{OLD_DISTRIBUTION} {old.version} is installed next to bulk-tracker-django. Both install the "
            "bulk_tracker package folder, so their files are mixed, and uninstalling django-bulk-tracker "
            "deletes files of bulk-tracker-django.",
            hint="Run `pip uninstall django-bulk-tracker`, then `pip install --force-reinstall --no-deps "
            "bulk-tracker-django` to put back the files the uninstall removed.",
            id="bulk_tracker.E001",
        )
    ]


@register(Tags.compatibility)
def check_tracked_generated_fields(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W004: a FieldTracker that tracks a GeneratedField (model_utils reads it back after every save)."""
    configs = app_configs or apps.get_app_configs()
    return generated_field_warnings(model for config in configs for model in config.get_models())


def generated_field_warnings(models_to_check: Iterable[type[models.Model]]) -> list[CheckMessage]:
    """W004 for each tracked model of ``models_to_check`` whose FieldTrackers track a generated field."""
    from .loading import field_trackers

    messages: list[CheckMessage] = []
    for model in models_to_check:
        if not is_tracked(model):
            continue
        generated = {f.attname for f in model._meta.concrete_fields if getattr(f, "generated", False)}
        for tracker in field_trackers(model):
            tracked = sorted(name for name in tracker.fields if tracker.field_map.get(name, name) in generated)
            if tracked:
                messages.append(
                    Warning(
                        f"{model._meta.label}.{tracker.name} tracks the generated field(s) {', '.join(tracked)}. "
                        "model_utils reads each tracked field after save(); a generated field Django leaves "
                        "deferred (MariaDB and MySQL return none) costs one more SELECT per save, and a save "
                        "that fails before Django sets it (an IntegrityError) recurses until RecursionError.",
                        hint="Leave generated fields out: FieldTracker(fields=[...]) naming the fields you save "
                        "by attname (a foreign key as `author_id`, as FieldTracker() names them). "
                        "bulk_tracker reports a generated field's new value from the row either way.",
                        obj=model,
                        id="bulk_tracker.W004",
                    )
                )
    return messages


_DATABASE_ON_DELETE = tuple(
    handler
    for handler in (getattr(models, name, None) for name in ("DB_CASCADE", "DB_SET_NULL", "DB_SET_DEFAULT"))
    if handler is not None
)


@register(Tags.models)
def check_database_on_delete(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W002: a database-level on_delete (Django 6.1+) changes tracked rows where Python never sees it."""
    configs = app_configs or apps.get_app_configs()
    return database_on_delete_warnings(model for config in configs for model in config.get_models())


def database_on_delete_warnings(models_to_check: Iterable[type[models.Model]]) -> list[CheckMessage]:
    """W002 for each foreign key of ``models_to_check`` with a database-level on_delete from or to a tracked model."""
    return [
        Warning(
            f"{model._meta.label}.{field.name} uses on_delete={field.remote_field.on_delete.__name__}: the "
            "database removes or changes those rows itself and bulk_tracker cannot report them.",
            hint="Use CASCADE, SET_NULL, SET_DEFAULT or SET() to have the changes reported.",
            obj=field,
            id="bulk_tracker.W002",
        )
        for model in models_to_check
        for field in model._meta.local_fields
        if field.remote_field is not None
        and _DATABASE_ON_DELETE
        and field.remote_field.on_delete in _DATABASE_ON_DELETE
        and (is_tracked(model) or is_tracked(field.remote_field.model))
    ]


@register(Tags.models)
def check_base_managers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W003: a tracked model whose ``Meta.base_manager_name`` names an untracked manager."""
    configs = app_configs or apps.get_app_configs()
    return untracked_base_manager_warnings(model for config in configs for model in config.get_models())


def untracked_base_manager_warnings(models_to_check: Iterable[type[models.Model]]) -> list[CheckMessage]:
    """W003 for each tracked model of ``models_to_check`` whose chosen base manager is not tracked."""
    warnings = []
    for model in models_to_check:
        if not is_tracked(model):
            continue
        manager = model._base_manager
        if manager.auto_created or is_tracked_manager(manager):
            continue
        warnings.append(
            Warning(
                f"{model._meta.label}'s base manager {manager.name!r} (Meta.base_manager_name) is not a "
                "bulk_tracker manager: writes Django makes through it, such as a related manager's add() "
                "or a GenericRelation's add(), are not reported.",
                hint="Make that manager a BulkTrackerManager (BulkTrackerManager.from_queryset(...) or "
                "BulkTrackerQuerySet.as_manager()), or remove base_manager_name.",
                obj=model,
                id="bulk_tracker.W003",
            )
        )
    return warnings


def is_tracked_manager(manager: models.Manager[Any]) -> bool:
    """True when ``manager``'s querysets are tracked (a BulkTrackerQuerySet)."""
    from .managers import BulkTrackerQuerySet

    return issubclass(getattr(manager, "_queryset_class", object), BulkTrackerQuerySet)


@register(Tags.models)
def check_m2m_opt_in(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E005: ``bulk_tracker_m2m`` names a field that is not a many-to-many field, or the model is untracked."""
    configs = app_configs or apps.get_app_configs()
    return m2m_opt_in_errors(model for config in configs for model in config.get_models())


def m2m_opt_in_errors(models_to_check: Iterable[type[models.Model]]) -> list[CheckMessage]:
    """E005 for each model of ``models_to_check`` whose ``bulk_tracker_m2m`` cannot be honoured."""
    messages: list[CheckMessage] = []
    for model in models_to_check:
        names = getattr(model, "bulk_tracker_m2m", ())
        if not names:
            continue
        known = {f.name for f in model._meta.many_to_many}
        if isinstance(names, str) and names != "__all__":
            problem = f"is the string {names!r}: give a tuple of field names, or '__all__'"
        elif not is_tracked(model):
            problem = "is set on a model bulk_tracker does not track (no BulkTrackerModel or BulkTrackerManager)"
        elif not isinstance(names, str) and (unknown := sorted(set(names) - known)):
            problem = f"names {', '.join(map(repr, unknown))}, not a many-to-many field of the model"
        else:
            continue
        messages.append(
            Error(
                f"{model._meta.label}.bulk_tracker_m2m {problem}.",
                hint=f"Its many-to-many fields: {', '.join(sorted(known)) or 'none'}.",
                obj=model,
                id="bulk_tracker.E005",
            )
        )
    return messages
