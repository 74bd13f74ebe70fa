"""BulkTrackerModel: the abstract base that also tracks single-row create(), save() and delete()."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import suppress
from typing import Any, ClassVar, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.signals import class_prepared

from bulk_tracker_core import TrackingInfo, check_tracking_info, resolve_tracking_info

from . import loading
from .delivery import tracking_scope
from .exceptions import MissingFieldTrackerError as MissingFieldTrackerError  # the drop-in import path
from .managers import BulkTrackerManager
from .operations.save import Save, inserting

_M = TypeVar("_M", bound="BulkTrackerModel")


def _positional_info(
    method: str, args: tuple[Any, ...], tracking_info_: object
) -> tuple[tuple[Any, ...], TrackingInfo | None]:
    """Take django-bulk-tracker 0.2.1's positional TrackingInfo out of ``save()``'s arguments.

    A TrackingInfo is never one of Django's arguments, so it is recognised without doubt; 0.2.1
    accepted it only as the sole positional argument, and so do we. Django's own positional
    arguments pass through untouched (Django decides what it accepts).
    """
    if not any(isinstance(arg, TrackingInfo) for arg in args):
        return args, check_tracking_info(tracking_info_)
    if len(args) > 1 or tracking_info_ is not None:
        raise TypeError(
            f"{method}() takes a TrackingInfo either as its only positional argument or as tracking_info_=, "
            "not both and not next to other positional arguments: pass Django's arguments by keyword."
        )
    return (), args[0]


def _attnames(instance: models.Model, names: Collection[str]) -> set[str]:
    """``names`` (field names or attnames, as ``update_fields`` and ``fields`` take them) as attnames."""
    attnames = set(names)
    for name in names:
        with suppress(FieldDoesNotExist):
            attnames.add(getattr(instance._meta.get_field(name), "attname", name))  # a relation's reverse: none
    return attnames


def _loaded_by(queryset: models.QuerySet[Any]) -> list[str] | None:
    """The field names ``queryset`` loads when it defers some (``only()``, ``defer()``); None when it loads all."""
    names, defer = queryset.query.deferred_loading
    if not names and defer:
        return None
    opts = queryset.model._meta
    named = {name for name in names if "__" not in name}
    fields = [field.name for field in opts.concrete_fields]
    return [name for name in fields if (name in named) != defer or name == opts.pk.name]


class BulkTrackerModel(models.Model):
    """Abstract model whose bulk and single-row writes send bulk_tracker signals.

    ``save()`` reports old values from the model's FieldTrackers, if it declares any (model_utils), or
    else from the values BulkTrackerModel records of each instance it loads or saves.
    """

    objects: ClassVar[BulkTrackerManager] = BulkTrackerManager()
    _bulk_tracker_tracks_save: ClassVar[bool] = True

    class Meta:
        abstract = True

    @classmethod
    def from_db(
        cls: type[_M], db: str | None, field_names: Collection[str], values: Sequence[Any], **kwargs: Any
    ) -> _M:
        """Django's ``from_db()``; a full row of a plain tracked model is built without model_utils' per-field cost."""
        if db is not None:
            built = loading.build(cls, db, values, kwargs)
            if built is not None:
                return built
        instance = super().from_db(db, field_names, values, **kwargs)
        if loading.records_saved_values(cls):
            loading.record(instance)
        return instance

    def refresh_from_db(self, using: str | None = None, fields: Any = None, **kwargs: Any) -> None:
        """Django's ``refresh_from_db()``; without a FieldTracker, the values read are recorded as saved."""
        super().refresh_from_db(using=using, fields=fields, **kwargs)
        if loading.records_saved_values(type(self)):
            if fields is None and kwargs.get("from_queryset") is not None:
                fields = _loaded_by(kwargs["from_queryset"])  # only() or defer() there: only what it read
            loading.record(self, None if fields is None else _attnames(self, fields))

    def save_base(self, *args: Any, **kwargs: Any) -> None:
        """Django's ``save_base()``; without a FieldTracker, the values saved are recorded as saved."""
        super().save_base(*args, **kwargs)
        if loading.records_saved_values(type(self)):
            update_fields = kwargs.get("update_fields")
            loading.record(self, None if update_fields is None else _attnames(self, update_fields))

    save_base.alters_data = True  # type: ignore[attr-defined]

    def get_deferred_fields(self) -> set[str]:
        """Django's, computed as one set difference: model_utils asks it on every read of a tracked field."""
        return set(loading.concrete_attnames(type(self)).difference(self.__dict__))

    def save(self, *args: Any, tracking_info_: TrackingInfo | None = None, **kwargs: Any) -> None:
        """Django's ``save()``, reported as a create or an update after commit.

        ``tracking_info_`` may also be the only positional argument, as in django-bulk-tracker
        0.2.1: ``obj.save(TrackingInfo(...))``.
        """
        args, tracking_info_ = _positional_info("save", args, tracking_info_)
        info = resolve_tracking_info(tracking_info_)
        fields = kwargs.get("update_fields")
        if fields is not None and not isinstance(fields, Collection):
            kwargs["update_fields"] = tuple(fields)  # a generator: read once, here, for us and for Django
        Save(self, args, kwargs, info, lambda: super(BulkTrackerModel, self).save(*args, **kwargs)).run()

    save.alters_data = True  # type: ignore[attr-defined]

    async def asave(self, *args: Any, tracking_info_: TrackingInfo | None = None, **kwargs: Any) -> None:
        """``save()`` from async code, with the same arguments."""
        return await sync_to_async(self.save)(*args, tracking_info_=tracking_info_, **kwargs)

    asave.alters_data = True  # type: ignore[attr-defined]

    def delete(
        self, using: Any = None, keep_parents: bool = False, tracking_info_: TrackingInfo | None = None
    ) -> tuple[int, dict[str, int]]:
        """Django's ``delete()``, reported through its collector (cascades and SET_* included).

        The signature is 0.2.1's: ``tracking_info_`` may be the third positional argument, and a
        TrackingInfo given first (``obj.delete(info)``) is taken as ``tracking_info_`` too.
        """
        if isinstance(using, TrackingInfo):
            if tracking_info_ is not None:
                raise TypeError("delete() got two TrackingInfo arguments: pass one, as tracking_info_=.")
            using, tracking_info_ = None, using
        if isinstance(keep_parents, TrackingInfo):
            raise TypeError("delete()'s second argument is keep_parents: pass a TrackingInfo as tracking_info_=.")
        with tracking_scope(tracking_info_):
            return super().delete(using=using, keep_parents=keep_parents)

    delete.alters_data = True  # type: ignore[attr-defined]

    async def adelete(
        self, using: Any = None, keep_parents: bool = False, tracking_info_: TrackingInfo | None = None
    ) -> tuple[int, dict[str, int]]:
        """``delete()`` from async code, with the same arguments."""
        return await sync_to_async(self.delete)(using, keep_parents, tracking_info_)

    adelete.alters_data = True  # type: ignore[attr-defined]

    def _do_insert(self, *args: Any, **kwargs: Any) -> Any:
        # The one place Django decides "this save inserts": _state.adding alone cannot tell
        # (a new instance with an existing pk is saved with an UPDATE).
        inserting(self)
        return super()._do_insert(*args, **kwargs)


def _generated_fields_set_without_a_read(sender: type[models.Model], **kwargs: Any) -> None:
    """Let Django set a tracked model's generated fields from ``RETURNING`` without model_utils reading them first.

    model_utils' tracked descriptor loads a deferred field before it is set, so as to record its old
    value; Django 6.0+ sets each generated field of a new instance from the INSERT's ``RETURNING``,
    which made that one SELECT per created row, and an error for an MTI child (its pk is not set yet
    while the parent row is written). A generated field has no old value of the caller's to record:
    the attribute model_utils checks to stop its own recursion marks it as being set already.
    """
    if issubclass(sender, BulkTrackerModel) and not sender._meta.abstract:
        for field in sender._meta.concrete_fields:
            if getattr(field, "generated", False):
                setattr(sender, f"_setting_{field.attname}", True)


class_prepared.connect(_generated_fields_set_without_a_read, dispatch_uid="bulk_tracker.generated_fields")
