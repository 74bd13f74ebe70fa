"""Which models bulk_tracker tracks, and every change it makes to Django: one ``install()``/``uninstall()`` pair.

``BulkTrackerConfig.ready()`` calls :func:`install`; tests may call :func:`uninstall` and
:func:`install` again. Each patch is a :class:`Patch` that undoes exactly what it did: the patches
of deletes (``Collector.delete``, the SET_* ``on_delete`` handlers, a migration serializer, the
``post_delete`` bridges) are registered by ``deletion``, the tracked base manager by ``base_manager``.

This module imports nothing else of bulk_tracker, so every other module may import it.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.db import models
from django.db.models.signals import class_prepared

_tracked_querysets: tuple[type[models.QuerySet[Any]], ...] = ()


def track_queryset_class(queryset_class: type[models.QuerySet[Any]]) -> None:
    """Models whose default manager's queryset subclasses ``queryset_class`` are tracked (BulkTrackerQuerySet)."""
    global _tracked_querysets
    if queryset_class not in _tracked_querysets:
        _tracked_querysets = (*_tracked_querysets, queryset_class)


def is_tracked(model: type[models.Model]) -> bool:
    """True for a BulkTrackerModel or a model whose default manager has a BulkTrackerQuerySet."""
    if getattr(model, "_bulk_tracker_tracks_save", False):  # set by BulkTrackerModel
        return True
    manager = getattr(model, "_default_manager", None)
    return issubclass(getattr(manager, "_queryset_class", object), _tracked_querysets)


class Patch(Protocol):
    """One change to Django that :func:`install` makes and :func:`uninstall` undoes."""

    def install(self) -> None:
        """Apply the change to Django and to every model registered so far (idempotent)."""

    def uninstall(self) -> None:
        """Restore exactly what :meth:`install` replaced (idempotent)."""

    def model_prepared(self, model: type[models.Model]) -> None:
        """Apply the change to a model class created after :meth:`install`."""


_patches: list[Patch] = []
_installed = False


def register_patch(patch: Patch) -> None:
    """Add ``patch`` to those :func:`install` applies (applied at once when already installed)."""
    if patch in _patches:
        return
    _patches.append(patch)
    if _installed:
        patch.install()


def install() -> None:
    """Apply every patch, in registration order. Calling it again does nothing."""
    global _installed
    if _installed:
        return
    for patch in _patches:
        patch.install()
    class_prepared.connect(_model_prepared, dispatch_uid="bulk_tracker.registry")
    _installed = True


def uninstall() -> None:
    """Undo every patch, in reverse order, leaving Django's objects as they were before :func:`install`."""
    global _installed
    if not _installed:
        return
    class_prepared.disconnect(dispatch_uid="bulk_tracker.registry")
    for patch in reversed(_patches):
        patch.uninstall()
    _installed = False


def is_installed() -> bool:
    """True between :func:`install` and :func:`uninstall`."""
    return _installed


def _model_prepared(sender: type[models.Model], **kwargs: Any) -> None:
    for patch in _patches:
        patch.model_prepared(sender)
