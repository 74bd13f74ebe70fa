"""Loading tracked rows: instances built as Django and model_utils build them, without their per-field cost.

``Model.from_db()`` runs ``__init__``, and model_utils wraps both ``__init__`` and every field's
descriptor: each attribute set and each value its tracker records asks ``get_deferred_fields()``
(a pass over every field), and every recorded value is deep-copied. A row of eight columns costs
about fifteen times what it costs for a plain model. For a full row of a model whose loading nothing
customises, the same instance is built here directly: the field values in ``__dict__``, the state
``from_db()`` sets, and each tracker holding copies of the values, as ``set_saved_fields()`` holds
them. Anything else (deferred fields, custom descriptors, ``pre_init``/``post_init`` receivers, a
custom ``__init__`` or tracker) is left to Django. ``test_loading.py`` compares both ways, field by field.

A model without a FieldTracker pays none of model_utils' cost: BulkTrackerModel records the values
of each loaded or saved instance itself (``record()``, one tuple per instance, mutable values copied),
which is all ``save()`` needs to report old values.

``BULK_TRACKER_FAST_LOADING = False`` (see :mod:`bulk_tracker.conf`) leaves every row to Django. The
setting is read once and again whenever Django reports it changed (``override_settings``).
"""

from __future__ import annotations

import datetime
import decimal
import operator
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from types import CodeType
from typing import Any, TypeVar

from django.core.signals import setting_changed
from django.db import models
from django.db.models.base import Deferred, ModelState
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from model_utils import tracker as model_utils_tracker

from . import conf

M = TypeVar("M", bound=models.Model)

_PLAIN_DESCRIPTORS = (DeferredAttribute, models.fields.related_descriptors.ForeignKeyDeferredAttribute)
_IMMUTABLE = frozenset(
    {type(None), bool, int, float, str, bytes, decimal.Decimal, uuid.UUID}
    | {datetime.datetime, datetime.date, datetime.time, datetime.timedelta}
)
_KNOWN_KWARGS = frozenset({"fetch_mode"})  # Django 6.1's from_db() keyword


@dataclass(frozen=True)
class _Tracker:
    attname: str
    instance_tracker: Callable[..., Any]
    fields: Any
    field_map: dict[str, str]
    names: tuple[str, ...]  # the tracked names
    read: Callable[[Sequence[Any]], Sequence[Any]]  # a row's values of those names, in their order


@dataclass(frozen=True)
class _Plan:
    attnames: tuple[str, ...]
    pk_attnames: tuple[str, ...]  # one, or the columns of a composite primary key
    trackers: tuple[_Tracker, ...]  # in the order their __init__ wrappers initialise them
    deep_copy: Callable[[Any], Any]


SAVED = "_bulk_tracker_saved"  # in an instance's __dict__: (attnames, values) as loaded or last saved
_plans: dict[type[models.Model], _Plan | None] = {}
_trackers: dict[type[models.Model], list[Any]] = {}
_attnames: dict[type[models.Model], frozenset[str]] = {}
_fast_loading: bool | None = None  # conf.fast_loading(), read on first use: a settings lookup costs microseconds


def _setting_changed(setting: str, **kwargs: Any) -> None:
    global _fast_loading
    if setting == "BULK_TRACKER_FAST_LOADING":
        _fast_loading = None


setting_changed.connect(_setting_changed, dispatch_uid="bulk_tracker.loading")


def fast_loading() -> bool:
    """``conf.fast_loading()``, read once and again after Django reports the setting changed."""
    global _fast_loading
    if _fast_loading is None:
        _fast_loading = conf.fast_loading()
    return _fast_loading


def concrete_attnames(model: type[models.Model]) -> frozenset[str]:
    """The attnames of ``model``'s concrete fields: what ``get_deferred_fields()`` looks for."""
    attnames = _attnames.get(model)
    if attnames is None:
        attnames = _attnames[model] = frozenset(field.attname for field in model._meta.concrete_fields)
    return attnames


def field_trackers(model: type[models.Model]) -> list[model_utils_tracker.FieldTracker]:
    """The FieldTrackers model_utils set up for ``model`` or an MTI parent: those its instances carry."""
    return list(_cached_trackers(model))


def _cached_trackers(model: type[models.Model]) -> list[model_utils_tracker.FieldTracker]:
    """``field_trackers()``, found once per model (model_utils sets them up when the class is prepared)."""
    found = _trackers.get(model)
    if found is None:
        found = _trackers[model] = _field_trackers(model)
    return found


def _field_trackers(model: type[models.Model]) -> list[model_utils_tracker.FieldTracker]:
    found: list[model_utils_tracker.FieldTracker] = []
    for klass in model.__mro__:
        for value in vars(klass).values():
            owner = getattr(value, "model_class", None)
            if (
                isinstance(value, model_utils_tracker.FieldTracker)
                and owner is not None
                and issubclass(model, owner)
                and value not in found
            ):
                found.append(value)
    return found


def records_saved_values(model: type[models.Model]) -> bool:
    """True when ``model``'s instances carry no FieldTracker: then ``record()`` keeps their saved values."""
    return not _cached_trackers(model)


def record(instance: models.Model, attnames: Collection[str] | None = None) -> None:
    """Keep the current values of ``attnames`` (every loaded concrete field by default) as ``instance``'s saved ones.

    The values kept before for other fields stay. An expression (``F()`` saved) is not a value: its
    field is forgotten, and read from the row when a save needs it. The record is replaced, never
    changed in place, so a copy of the instance keeps its own.
    """
    attributes = instance.__dict__
    concrete = concrete_attnames(type(instance))
    names = concrete if attnames is None else concrete.intersection(attnames)
    kept = saved_values(instance)
    for name in names:
        value = attributes.get(name, Deferred)
        if value is Deferred or hasattr(value, "resolve_expression"):
            kept.pop(name, None)
        else:
            kept[name] = value if type(value) in _IMMUTABLE else _copy(value)
    attributes[SAVED] = (tuple(kept), tuple(kept.values()))


def _copy(value: Any) -> Any:
    """A copy of a mutable value, as model_utils makes it; a memoryview (a BinaryField's) as a copy of its bytes."""
    if isinstance(value, memoryview):
        return memoryview(value.tobytes())
    return model_utils_tracker.lightweight_deepcopy(value)


def saved_values(instance: models.Model) -> dict[str, Any]:
    """``{attname: value}`` as ``record()`` kept them: the values loaded or last saved."""
    kept = instance.__dict__.get(SAVED)
    return dict(zip(*kept, strict=True)) if kept else {}


def build(model: type[M], db: str, values: Sequence[Any], kwargs: dict[str, Any]) -> M | None:
    """``model.from_db(db, <every concrete attname>, values)`` built directly, or None to let Django build it."""
    if not (_fast_loading if _fast_loading is not None else fast_loading()):
        return None
    plan = _plans[model] if model in _plans else _plans.setdefault(model, _plan(model))
    if (
        plan is None
        or len(values) != len(plan.attnames)
        or not kwargs.keys() <= _KNOWN_KWARGS
        or (pre_init.receivers and pre_init.has_listeners(model))
        or (post_init.receivers and post_init.has_listeners(model))
    ):
        return None
    types = set(map(type, values))
    if Deferred in types:  # a value Django's from_db() leaves unset
        return None
    new = object.__new__(model)
    state = ModelState()
    state.adding = False
    state.db = db
    if kwargs.get("fetch_mode") is not None:
        state.fetch_mode = kwargs["fetch_mode"]
    attributes = new.__dict__
    attributes["_state"] = state
    attributes.update(zip(plan.attnames, values, strict=True))
    # model_utils records nothing for a pk of 0; we do. A composite key is set when each of its parts is.
    keys = plan.pk_attnames
    has_pk = attributes[keys[0]] is not None if len(keys) == 1 else all(attributes[k] is not None for k in keys)
    immutable = types <= _IMMUTABLE
    if not plan.trackers:  # BulkTrackerModel's own record, as record() keeps it
        kept = values if immutable else [v if type(v) in _IMMUTABLE else _copy(v) for v in values]
        attributes[SAVED] = (plan.attnames, tuple(kept))
    for tracker in plan.trackers:
        instance_tracker = tracker.instance_tracker(new, tracker.fields, tracker.field_map)
        attributes[tracker.attname] = instance_tracker
        saved = dict(zip(tracker.names, tracker.read(values), strict=True)) if has_pk else {}
        if not immutable:  # model_utils keeps copies, so that changing a mutable value in place is seen
            saved = {
                name: value if type(value) in _IMMUTABLE else plan.deep_copy(value) for name, value in saved.items()
            }
        instance_tracker.saved_data = saved
        attributes["_instance_initialized"] = True
    return new


def _plan(model: type[models.Model]) -> _Plan | None:
    """How to build ``model``'s instances directly, or None when something customises its loading."""
    opts = model._meta
    deep_copy = getattr(model_utils_tracker, "lightweight_deepcopy", None)
    if opts.abstract or deep_copy is None or model.__setattr__ is not object.__setattr__:
        return None
    trackers = _trackers_of(model.__init__)
    if trackers is None:
        return None
    attnames = tuple(field.attname for field in opts.concrete_fields)
    for attname in attnames:
        descriptor = _class_attribute(model, attname)
        while isinstance(descriptor, model_utils_tracker.DescriptorWrapper):  # one per tracker, MTI parents' too
            descriptor = descriptor.descriptor
        if type(descriptor) not in _PLAIN_DESCRIPTORS:
            return None
    planned = []
    for tracker in trackers:
        instance_tracker = tracker.tracker_class
        if not (
            type(tracker) in (model_utils_tracker.FieldTracker, model_utils_tracker.ModelTracker)
            and _method_is(instance_tracker, model_utils_tracker.FieldInstanceTracker, "__init__")
            and _method_is(instance_tracker, model_utils_tracker.FieldInstanceTracker, "set_saved_fields")
            and _method_is(instance_tracker, model_utils_tracker.FieldInstanceTracker, "current")
            and _method_is(instance_tracker, model_utils_tracker.FieldInstanceTracker, "get_field_value")
        ):
            return None
        names = tuple(tracker.fields)
        if any(tracker.field_map[name] not in attnames for name in names):
            return None  # a tracked property or other attribute: read it as model_utils does
        positions = [attnames.index(tracker.field_map[name]) for name in names]
        read = _reader(positions)
        planned.append(_Tracker(tracker.attname, instance_tracker, tracker.fields, tracker.field_map, names, read))
    pk_attnames = tuple(field.attname for field in getattr(opts, "pk_fields", None) or [opts.pk])  # Django 5.2+
    return _Plan(attnames, pk_attnames, tuple(planned), deep_copy)


def _init_wrapper_code() -> CodeType | None:
    """The code of the ``__init__`` wrapper model_utils' ``FieldTracker.patch_init()`` installs, or None."""
    patch_init = getattr(model_utils_tracker.FieldTracker, "patch_init", None)
    constants = getattr(getattr(patch_init, "__code__", None), "co_consts", ())
    wrappers = [code for code in constants if isinstance(code, CodeType)]
    return wrappers[0] if len(wrappers) == 1 else None


_INIT_WRAPPER = _init_wrapper_code()


def _trackers_of(init: Callable[..., None]) -> list[Any] | None:
    """The FieldTrackers whose wrappers make up ``init`` around ``Model.__init__``, innermost first.

    None when anything else wraps or replaces ``Model.__init__``. A wrapper is recognised by its
    code, the very code object of model_utils' ``patch_init()`` (``functools.wraps`` copies the
    wrapped function's name); its tracker is the ``self`` it closes over, and ``__wrapped__``
    is the function it wraps.
    """
    trackers = []
    while init is not models.Model.__init__:
        code = getattr(init, "__code__", None)
        if _INIT_WRAPPER is None or code is not _INIT_WRAPPER:
            return None
        cells = dict(zip(code.co_freevars, (cell.cell_contents for cell in init.__closure__ or ()), strict=True))
        tracker, original = cells.get("self"), getattr(init, "__wrapped__", None)
        if not isinstance(tracker, model_utils_tracker.FieldTracker) or original is None:
            return None
        trackers.append(tracker)
        init = original
    return trackers[::-1]


def _reader(positions: list[int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    if not positions:
        return lambda values: ()
    if len(positions) == 1:
        return lambda values: (values[positions[0]],)
    return operator.itemgetter(*positions)


def _class_attribute(model: type[models.Model], name: str) -> Any:
    """The class attribute ``name`` as stored, without running its descriptor."""
    for klass in model.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def _method_is(cls: type, base: type, name: str) -> bool:
    return getattr(cls, name) is getattr(base, name)
