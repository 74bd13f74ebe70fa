"""The two value objects every receiver sees: what changed, and who changed it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=True)
class ModifiedObject(Generic[T]):
    """One affected row.

    ``instance`` is the row as it is after the operation; ``changed_values`` maps
    each changed field to its value *before* the operation (empty for creates and
    deletes).
    """

    instance: T
    changed_values: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ModifiedObject({self.instance!r}, changed_values={self.changed_values!r})"


@dataclass(eq=True)
class TrackingInfo:
    """Who did an operation and why, delivered to receivers as ``tracking_info_``.

    ``is_robust=True`` makes delivery use ``send_robust``: every receiver runs and
    failures are logged instead of raised.
    """

    user: Any = None
    comment: str | None = None
    reason: str | None = None
    system: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    is_robust: bool = False

    def __post_init__(self) -> None:
        if self.kwargs is None:
            self.kwargs = {}
        elif not isinstance(self.kwargs, dict):
            raise TypeError(f"TrackingInfo.kwargs must be a dict, got {type(self.kwargs).__name__}.")

    def merged_with(self, inner: TrackingInfo) -> TrackingInfo:
        """Return this info overlaid by ``inner``: its set attributes win, ``kwargs`` merge."""
        return TrackingInfo(
            user=self.user if inner.user is None else inner.user,
            comment=self.comment if inner.comment is None else inner.comment,
            reason=self.reason if inner.reason is None else inner.reason,
            system=self.system if inner.system is None else inner.system,
            kwargs={**self.kwargs, **inner.kwargs},
            is_robust=self.is_robust or inner.is_robust,
        )


def check_tracking_info(value: object) -> TrackingInfo | None:
    """Return ``value`` if it is a TrackingInfo or None, else raise a TypeError saying so."""
    if value is None or isinstance(value, TrackingInfo):
        return value
    raise TypeError(
        f"tracking_info_ must be a bulk_tracker TrackingInfo or None, got {type(value).__name__}: {value!r}."
    )
