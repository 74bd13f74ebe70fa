"""The tracked queryset and manager: Django's bulk writes, plus one signal per operation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import models

from bulk_tracker_core import (
    ModifiedObject,
    TrackingInfo,
    resolve_tracking_info,
)

from .delivery import deliver, delivered_after, tracking_scope, wants
from .operations.bulk_create import bulk_create_operation
from .operations.bulk_update import BulkUpdate
from .operations.save import UpdateOrCreate, found
from .operations.update import Update
from .signals import post_create_signal

M = TypeVar("M", bound=models.Model)


class BulkTrackerQuerySet(models.QuerySet[M]):
    """A QuerySet whose writes send bulk_tracker signals after commit.

    Every write method takes ``tracking_info_``; return values and errors are Django's.
    """

    def update(self, *, tracking_info_: TrackingInfo | None = None, **kwargs: Any) -> int:
        """Django's ``update()``; receivers of ``post_update_signal`` get the rows that changed, with old values."""
        info = resolve_tracking_info(tracking_info_)
        self._for_write = True  # as Django's update(): self.db is the alias it writes to
        return Update(self, kwargs, info, lambda: super(BulkTrackerQuerySet, self).update(**kwargs)).run()

    update.alters_data = True  # type: ignore[attr-defined]

    def bulk_update(
        self,
        objs: Iterable[M],
        fields: Sequence[str],
        batch_size: int | None = None,
        *,
        tracking_info_: TrackingInfo | None = None,
    ) -> int:
        """Django's ``bulk_update()``; receivers of ``post_update_signal`` get the rows that changed, with old values.

        One signal call whatever the number of batches; the instances are the rows as stored.
        """
        info = resolve_tracking_info(tracking_info_)
        self._for_write = True  # as Django's bulk_update(): self.db is the alias it writes to

        def django_bulk_update(objs: Sequence[M]) -> int:
            return super(BulkTrackerQuerySet, self).bulk_update(objs, fields, batch_size)

        return BulkUpdate(self, objs, fields, batch_size, info, django_bulk_update).run()

    bulk_update.alters_data = True  # type: ignore[attr-defined]

    def bulk_create(
        self,
        objs: Iterable[M],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Sequence[str] | None = None,
        unique_fields: Sequence[str] | None = None,
        *,
        tracking_info_: TrackingInfo | None = None,
    ) -> list[M]:
        """Django's ``bulk_create()``; ``post_create_signal`` gets the rows inserted, ``post_update_signal``
        those an upsert (``update_conflicts``) changed, with their old values."""
        info = resolve_tracking_info(tracking_info_)
        options = {
            "batch_size": batch_size,
            "ignore_conflicts": ignore_conflicts,
            "update_conflicts": update_conflicts,
            "update_fields": update_fields,
            "unique_fields": unique_fields,
        }
        self._for_write = True  # as Django's bulk_create(): self.db is the alias it writes to
        return bulk_create_operation(self, objs, options, info, super().bulk_create).run()

    bulk_create.alters_data = True  # type: ignore[attr-defined]

    def create(self, *, tracking_info_: TrackingInfo | None = None, **kwargs: Any) -> M:
        info = resolve_tracking_info(tracking_info_)
        with tracking_scope(tracking_info_):
            obj = super().create(**kwargs)
        if not getattr(self.model, "_bulk_tracker_tracks_save", False) and wants(post_create_signal, self.model):
            deliver(post_create_signal, self.model, [ModifiedObject(obj)], info, self.db)
        return obj

    create.alters_data = True  # type: ignore[attr-defined]

    def get_or_create(
        self, defaults: Any = None, *, tracking_info_: TrackingInfo | None = None, **kwargs: Any
    ) -> tuple[M, bool]:
        """Django's ``get_or_create()``; a created row is reported by ``create()``."""
        self._for_write = True  # as Django's get_or_create(): self.db is the alias it writes to
        with delivered_after(self.db), tracking_scope(tracking_info_):  # Django's own transaction, in autocommit
            obj, created = super().get_or_create(defaults, **kwargs)
        found(self.model, obj, created)  # the locked row of a running update_or_create()
        return obj, created

    get_or_create.alters_data = True  # type: ignore[attr-defined]

    def update_or_create(self, *args: Any, tracking_info_: TrackingInfo | None = None, **kwargs: Any) -> tuple[M, bool]:
        """Django's ``update_or_create()``: a created row is reported as ``create()``'s, an updated one by save().

        A model that is not a BulkTrackerModel has Django's own save(): its update is reported here,
        with the old values of the row Django's ``select_for_update().get()`` read.
        """
        info = resolve_tracking_info(tracking_info_)
        self._for_write = True  # as Django's update_or_create(): self.db is the alias it writes to

        def django_update_or_create() -> tuple[M, bool]:
            with tracking_scope(tracking_info_):
                # Django's own arguments as given: create_defaults exists from Django 5.0 only.
                return super(BulkTrackerQuerySet, self).update_or_create(*args, **kwargs)

        with delivered_after(self.db):  # Django's own transaction, in autocommit: save()'s report held to its end
            return UpdateOrCreate(self, info, django_update_or_create).run()

    update_or_create.alters_data = True  # type: ignore[attr-defined]

    # Django's own method, run with an explicit tracking_info_ as the context of the deletes it makes.
    def delete(self, *, tracking_info_: TrackingInfo | None = None) -> tuple[int, dict[str, int]]:
        """Django's ``delete()`` (through the MRO, so a queryset mixin's own delete runs), reported by the collector."""
        with tracking_scope(tracking_info_):
            return super().delete()

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]  # as Django's: not copied to managers

    async def adelete(self, *, tracking_info_: TrackingInfo | None = None) -> tuple[int, dict[str, int]]:
        return await sync_to_async(self.delete)(tracking_info_=tracking_info_)

    adelete.alters_data = True  # type: ignore[attr-defined]

    # Django's async twins name their arguments, so tracking_info_ needs passing through.
    async def abulk_create(
        self, objs: Iterable[M], *args: Any, tracking_info_: TrackingInfo | None = None, **kwargs: Any
    ) -> list[M]:
        return await sync_to_async(self.bulk_create)(objs, *args, tracking_info_=tracking_info_, **kwargs)

    abulk_create.alters_data = True  # type: ignore[attr-defined]

    async def abulk_update(
        self,
        objs: Iterable[M],
        fields: Sequence[str],
        batch_size: int | None = None,
        *,
        tracking_info_: TrackingInfo | None = None,
    ) -> int:
        return await sync_to_async(self.bulk_update)(objs, fields, batch_size, tracking_info_=tracking_info_)

    abulk_update.alters_data = True  # type: ignore[attr-defined]


class BulkTrackerManager(models.Manager.from_queryset(BulkTrackerQuerySet)):  # type: ignore[misc]
    """The default manager of tracked models (a ``models.Manager``); combine with ``from_queryset(MyQuerySet)``."""
