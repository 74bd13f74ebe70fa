"""An audit log: one AuditEntry per changed row, with old and new values and who did it."""

from typing import Any

from django.dispatch import receiver

from bulk_tracker.helper_objects import ModifiedObject, TrackingInfo
from bulk_tracker.signals import post_create_signal, post_delete_signal, post_update_signal

from .models import AuditEntry, Author, Book

OPERATIONS = {post_create_signal: "create", post_update_signal: "update", post_delete_signal: "delete"}


def _user(info: TrackingInfo | None) -> Any:
    user = info.user if info else None
    return user if getattr(user, "is_authenticated", False) else None


@receiver([post_create_signal, post_update_signal, post_delete_signal], sender=Author)
@receiver([post_create_signal, post_update_signal, post_delete_signal], sender=Book)
def audit(
    sender: type, objects: list[ModifiedObject[Any]], tracking_info_: TrackingInfo | None = None, **kwargs: Any
) -> None:
    operation = OPERATIONS[kwargs["signal"]]
    AuditEntry.objects.bulk_create(
        AuditEntry(
            operation=operation,
            model=sender.__name__,
            object_id=str(obj.instance.pk),
            changes={field: [str(old), str(getattr(obj.instance, field))] for field, old in obj.changed_values.items()},
            user=_user(tracking_info_),
            comment=(tracking_info_.comment or "") if tracking_info_ else "",
        )
        for obj in objects
    )
