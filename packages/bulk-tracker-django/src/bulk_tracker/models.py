"""BulkTrackerModel: the abstract base that also tracks single-row create(), save() and delete()."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import suppress
from typing import Any, ClassVar, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import FieldDoesNotExist
from django.db import models, router, transaction
from model_utils import FieldTracker

from bulk_tracker_core import (
    ModifiedObject,
    TrackingInfo,
    changed_fields,
    check_tracking_info,
    resolve_tracking_info,
    snapshot,
    values_equal,
)

from . import loading
from .delivery import deliver, tracking_scope, wants
from .exceptions import MissingFieldTrackerError
from .managers import BulkTrackerManager
from .signals import post_create_signal, post_update_signal

_M = TypeVar("_M", bound="BulkTrackerModel")
# Model.save()'s parameters, positional before Django 6.0 (deprecated from 5.1).
_SAVE_PARAMETERS = ("force_insert", "force_update", "using", "update_fields")


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


def find_field_tracker(model: type[models.Model]) -> str | None:
    """The attribute name of ``model``'s FieldTracker, or None."""
    for klass in model.__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, FieldTracker):
                return name
    return None


class BulkTrackerModel(models.Model):
    """Abstract model whose bulk and single-row writes send bulk_tracker signals.

    Single-row ``save()`` needs ``tracker = FieldTracker()`` to know the old values.
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
        return super().from_db(db, field_names, values, **kwargs)

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
        model = type(self)
        creating = self._state.adding
        options = {**dict(zip(_SAVE_PARAMETERS, args, strict=False)), **kwargs}  # Django's arguments, however passed
        # A new instance whose pk is set is saved with an UPDATE when that row exists: read the row.
        overwrites = creating and wants(post_update_signal, model) and self._may_overwrite_a_row(options)
        if not (overwrites or wants(post_create_signal if creating else post_update_signal, model)):
            return super().save(*args, **kwargs)
        self._bulk_tracker_inserted = False
        if overwrites:
            alias = options.get("using") or router.db_for_write(model, instance=self)
            with transaction.atomic(using=alias, savepoint=False):
                changed = self._stored_changes(alias, options.get("update_fields"))
                super().save(*args, **kwargs)
        else:
            changed = {} if creating else self._unsaved_changes(options.get("update_fields"))
            super().save(*args, **kwargs)
        using = self._state.db or "default"
        if self._bulk_tracker_inserted:
            if wants(post_create_signal, model):
                deliver(post_create_signal, model, [ModifiedObject(self)], info, using)
        elif changed and wants(post_update_signal, model):
            deliver(post_update_signal, model, [ModifiedObject(self, changed)], info, using)

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
        self._bulk_tracker_inserted = True
        return super()._do_insert(*args, **kwargs)

    def _may_overwrite_a_row(self, kwargs: dict[str, Any]) -> bool:
        """True when Django will try an UPDATE for this new instance (mirrors Model._save_table)."""
        pk = self._meta.pk
        pk_has_default = pk.has_default() or (hasattr(pk, "has_db_default") and pk.has_db_default())
        pk_set = self._is_pk_set() if hasattr(self, "_is_pk_set") else self.pk is not None
        return pk_set and not kwargs.get("force_insert") and not pk_has_default

    def _stored_changes(self, alias: str, update_fields: Any) -> dict[str, Any]:
        """``{attname: old value}`` read from the row this save overwrites, locked until the write."""
        names = None if update_fields is None else set(update_fields)
        attnames = [
            field.attname
            for field in self._meta.concrete_fields
            if not field.primary_key and (names is None or field.name in names or field.attname in names)
        ]
        manager = type(self)._base_manager.db_manager(alias)
        old = list(manager.select_for_update().filter(pk=self.pk).values(*attnames))
        if not old:
            return {}  # no such row: Django inserts
        return changed_fields(old[0], {name: getattr(self, name) for name in attnames})

    def _unsaved_changes(self, update_fields: Any) -> dict[str, Any]:
        """``{attname: old value}`` of the fields this save will write, from the FieldTracker."""
        name = find_field_tracker(type(self))
        if name is None:
            raise MissingFieldTrackerError(
                f"{type(self)._meta.label} has no FieldTracker, so bulk_tracker cannot report the old values "
                "that save() overwrites. Add `tracker = FieldTracker()` (from model_utils) to the model, or "
                "save inside bulk_tracker.suspended() to write it untracked."
            )
        tracker = getattr(self, name)
        selected = None
        if update_fields is not None:
            opts = self._meta
            selected = set(update_fields)
            for name in update_fields:
                with suppress(FieldDoesNotExist):  # Django's save() refuses it next, with its own ValueError
                    selected.add(opts.get_field(name).attname)
        deferred = self.get_deferred_fields()
        changed = {}
        for field in tracker.fields:
            if (selected is not None and field not in selected) or (field in deferred and field not in self.__dict__):
                continue
            old = tracker.previous(field)
            if not values_equal(old, tracker.get_field_value(field)):
                changed[field] = snapshot(old)
        return changed
