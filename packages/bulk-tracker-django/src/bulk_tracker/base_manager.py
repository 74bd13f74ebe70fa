"""The tracked base manager: Django's writes through ``Model._base_manager`` reach the tracked queryset.

Django writes through ``Model._base_manager`` where no manager was chosen: a reverse foreign key's
``add()``, a GenericRelation's ``add()``. Unless ``Meta.base_manager_name`` names a manager,
``Options.base_manager`` builds a plain ``Manager()``; for a tracked model it builds a
BulkTrackerManager instead, which filters nothing (reads are Django's), so those writes are tracked.
Installed and uninstalled by :mod:`bulk_tracker.registry`.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models
from django.db.models.options import Options
from django.utils.functional import cached_property

from . import registry
from .managers import BulkTrackerManager, BulkTrackerQuerySet

_BASE_MANAGER = "base_manager"
_manager_classes: dict[type[models.QuerySet[Any]], type[models.Manager[Any]]] = {}


def tracked_base_manager(model: type[models.Model]) -> models.Manager[Any]:
    """The base manager Django would build for ``model``, as a BulkTrackerManager that filters nothing."""
    queryset_class = getattr(model._default_manager, "_queryset_class", BulkTrackerQuerySet)
    if not issubclass(queryset_class, BulkTrackerQuerySet):
        queryset_class = BulkTrackerQuerySet
    manager_class = _manager_classes.get(queryset_class)
    if manager_class is None:
        manager_class = _manager_classes[queryset_class] = (
            BulkTrackerManager
            if queryset_class is BulkTrackerQuerySet
            else BulkTrackerManager.from_queryset(queryset_class)
        )
    manager = manager_class()
    manager.name = "_base_manager"
    manager.model = model
    manager.auto_created = True
    return manager


class _TrackedBaseManagerProperty:
    """Stands in for Django's ``Options.base_manager`` cached property; cached in ``opts.__dict__`` as it is.

    A class-level descriptor rather than one value per model: ``apps.clear_cache()`` empties every
    ``Options`` cache, and a model defined after ``install()`` needs no extra step.
    """

    def __init__(self, original: cached_property[Any]) -> None:
        self.original = original
        self.name = self.attrname = _BASE_MANAGER

    def __get__(self, opts: Options | None, owner: type | None = None) -> Any:
        if opts is None:
            return self
        manager = self.original.func(opts)
        if _builds_plain(opts, manager) and registry.is_tracked(opts.model):
            manager = tracked_base_manager(opts.model)
        opts.__dict__[_BASE_MANAGER] = manager
        return manager


def _builds_plain(opts: Options, manager: models.Manager[Any]) -> bool:
    """True when Django built its own plain ``Manager()`` (no ``base_manager_name`` on the model or a parent)."""
    return not opts.abstract and manager.auto_created and type(manager) is models.Manager


class BaseManagerPatch:
    """``Options.base_manager`` builds a tracked manager for tracked models; uninstall restores Django's."""

    def __init__(self) -> None:
        self._original: Any = None

    def install(self) -> None:
        """Replace Django's ``Options.base_manager`` and forget the base managers it built so far."""
        if self._original is not None:
            return
        self._original = Options.__dict__[_BASE_MANAGER]
        Options.base_manager = _TrackedBaseManagerProperty(self._original)
        self._forget_cached()

    def uninstall(self) -> None:
        """Put Django's ``Options.base_manager`` back and drop the tracked managers cached per model."""
        if self._original is None:
            return
        Options.base_manager = self._original
        self._original = None
        self._forget_cached()

    def model_prepared(self, model: type[models.Model]) -> None:
        """Nothing to do: the property builds a new model's base manager on first use."""

    @staticmethod
    def _forget_cached() -> None:
        for model in apps.get_models(include_auto_created=True):
            opts = model._meta
            if opts.__dict__.get(_BASE_MANAGER) is not None and opts.__dict__[_BASE_MANAGER].auto_created:
                del opts.__dict__[_BASE_MANAGER]


registry.track_queryset_class(BulkTrackerQuerySet)
registry.register_patch(BaseManagerPatch())
