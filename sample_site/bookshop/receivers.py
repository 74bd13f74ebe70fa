"""What real users do with bulk-tracker, one receiver each: an audit log, an exact counter, a cache."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.dispatch import receiver

from bulk_tracker import suspended
from bulk_tracker.helper_objects import ModifiedObject, TrackingInfo
from bulk_tracker.signals import post_create_signal, post_delete_signal, post_update_signal, pre_update_signal

from .models import Author, Book, Category, Review

OPERATIONS = {post_create_signal: "create", post_update_signal: "update", post_delete_signal: "delete"}
TRACKED = (Author, Book, Category, Review)
ALL_SIGNALS = list(OPERATIONS)


MAX_NEW_COPIES = 50


class StockLimitError(ValueError):
    """A write would give some book more than ``MAX_NEW_COPIES`` new copies at once: vetoed, nothing written."""


def book_cache_key(pk: Any) -> str:
    return f"bookshop:book:{pk}"


def was_price_key(pk: Any) -> str:
    return f"bookshop:was:{pk}"


def _user(info: TrackingInfo | None) -> Any:
    user = info.user if info else None
    return user if getattr(user, "is_authenticated", False) else None


def _shown(value: Any) -> str:
    return "—" if value is None else str(value)


def _change(obj: ModifiedObject[Any], field: str, old: Any) -> list[str]:
    """``[old, new]`` as the feed shows them; a many-to-many field's sets as the related rows' names."""
    instance = obj.instance
    many = next((f for f in instance._meta.many_to_many if f.name == field), None)
    if many is None:
        return [_shown(old), _shown(getattr(instance, field))]
    related = many.related_model._base_manager
    names = sorted(str(tag) for tag in related.filter(pk__in=old))
    return [", ".join(names) or "—", ", ".join(sorted(str(tag) for tag in getattr(instance, field).all())) or "—"]


def audit(
    sender: type, objects: list[ModifiedObject[Any]], tracking_info_: TrackingInfo | None = None, **kwargs: Any
) -> None:
    """One AuditEntry per reported row: which fields changed from what to what, who did it, and why."""
    from .models import AuditEntry

    user = _user(tracking_info_)
    comment = (tracking_info_.comment or "") if tracking_info_ else ""
    AuditEntry.objects.bulk_create(
        AuditEntry(
            operation=OPERATIONS[kwargs["signal"]],
            model=sender.__name__,
            object_id=str(obj.instance.pk),
            object_repr=str(obj.instance)[:200],
            changes={field: _change(obj, field, old) for field, old in obj.changed_values.items()},
            user=user,
            comment=comment[:200],
        )
        for obj in objects
    )


for model in TRACKED:
    for signal, operation in OPERATIONS.items():
        signal.connect(audit, sender=model, dispatch_uid=f"bookshop.audit.{model.__name__}.{operation}")


@receiver(ALL_SIGNALS, sender=Book, dispatch_uid="bookshop.book_count")
def count_books(sender: type, objects: list[ModifiedObject[Book]], **kwargs: Any) -> None:
    """Recount the books of exactly the authors a change touched, in one UPDATE."""
    moved = kwargs["signal"] is post_update_signal
    touched = set()
    for obj in objects:
        old_author = obj.changed_values.get("author_id", obj.changed_values.get("author"))
        if moved and old_author is None:
            continue  # price or stock changes do not move a book
        touched.update({obj.instance.author_id, getattr(old_author, "pk", old_author)})
    touched.discard(None)
    if touched:
        recount_books(Author.objects.filter(pk__in=touched))


def recount_books(authors: Any) -> None:
    """Set ``book_count`` of ``authors`` (a queryset) from the books table, in one UPDATE."""
    books = Book.objects.filter(author=OuterRef("pk")).order_by().values("author").annotate(n=Count("pk")).values("n")
    with suspended():  # a derived value: not itself news for the audit log
        authors.update(book_count=Coalesce(Subquery(books), Value(0)))


@receiver(ALL_SIGNALS, sender=Book, dispatch_uid="bookshop.book_cache")
def invalidate_book_cache(sender: type, objects: list[ModifiedObject[Book]], **kwargs: Any) -> None:
    """Drop the cached card of exactly the books that changed."""
    cache.delete_many([book_cache_key(obj.instance.pk) for obj in objects])


@receiver(post_update_signal, sender=Book, fields={"price"}, dispatch_uid="bookshop.was_price")
def remember_old_prices(sender: type, objects: list[ModifiedObject[Book]], **kwargs: Any) -> None:
    """Only the books whose price changed: the page shows each one's previous price ("was 9.50")."""
    cache.set_many({was_price_key(obj.pk): obj.changed_values["price"] for obj in objects}, timeout=None)


@receiver(pre_update_signal, sender=Book, dispatch_uid="bookshop.stock_limit")
def at_most_fifty_new_copies(
    sender: type, objects: list[Book], values: dict[Any, dict[str, Any]], **kwargs: Any
) -> None:
    """A before-write veto: no book gets more than 50 new copies in one write; then nothing is written."""
    for book in objects:
        new = values[book.pk].get("stock")
        if isinstance(new, int) and new - book.stock > MAX_NEW_COPIES:
            added = new - book.stock
            raise StockLimitError(
                f"{book.title} would get {added} new copies, more than {MAX_NEW_COPIES}: nothing changed."
            )
