"""factory-boy support: TrackingInfo and ModifiedObject factories, and a base for tracked models."""

from __future__ import annotations

from typing import Any

import factory
from factory.django import DjangoModelFactory

from bulk_tracker.helper_objects import ModifiedObject, TrackingInfo


class TrackingInfoFactory(factory.Factory):
    """``TrackingInfoFactory(user=u)``: a TrackingInfo with a comment set."""

    class Meta:
        model = TrackingInfo

    user = None
    comment = factory.Sequence(lambda n: f"change {n}")
    reason = None
    system = None
    kwargs = factory.LazyFunction(dict)
    is_robust = False


class ModifiedObjectFactory(factory.Factory):
    """``ModifiedObjectFactory(instance=book, changed_values={"price": 5})``: to unit-test a receiver."""

    class Meta:
        model = ModifiedObject

    instance = None
    changed_values = factory.LazyFunction(dict)


class BulkTrackerModelFactory(DjangoModelFactory):
    """Base factory for tracked models.

    ``create(..., tracking_info_=info)`` passes the info to the model's ``create()``;
    ``create_batch(n, tracking_info_=info)`` saves the whole batch with one ``bulk_create()``,
    so receivers get one post_create signal for it. In a batch, post-generation hooks run before
    the insert, on unsaved objects: keep hooks that need a pk to single ``create()`` calls.
    """

    class Meta:
        abstract = True

    _batching = False

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        info = kwargs.pop("tracking_info_", None)
        if cls._batching:
            return model_class(*args, **kwargs)  # saved by create_batch's bulk_create
        manager = cls._get_manager(model_class)
        if info is None:
            return super()._create(model_class, *args, **kwargs)
        return manager.create(*args, tracking_info_=info, **kwargs)

    @classmethod
    def _after_postgeneration(cls, instance: Any, create: bool, results: Any = None) -> None:
        if not cls._batching:  # a batch's objects are saved afterwards, hooks' changes included
            super()._after_postgeneration(instance, create, results)

    @classmethod
    def create_batch(cls, size: int, **kwargs: Any) -> list[Any]:
        info = kwargs.pop("tracking_info_", None)
        cls._batching = True
        try:
            objs = [cls._generate_unsaved(kwargs) for _ in range(size)]
        finally:
            cls._batching = False
        manager = cls._get_manager(cls._meta.get_model_class())
        created: list[Any] = manager.bulk_create(objs, tracking_info_=info)
        return created

    @classmethod
    def _generate_unsaved(cls, kwargs: dict[str, Any]) -> Any:
        # The create strategy, so SubFactory parents are saved; _create itself returns unsaved objects.
        return cls._generate(factory.enums.CREATE_STRATEGY, dict(kwargs))
