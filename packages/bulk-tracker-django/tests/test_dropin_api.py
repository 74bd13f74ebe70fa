"""Drop-in compatibility with django-bulk-tracker 0.2.1 around TrackingInfo and the public helpers.

The TrackingInfo a receiver gets is the caller's very object on every write path; 0.2.1's positional
``save(info)`` and ``delete(using, keep_parents, info)``; the ``send_post_*_signal`` helpers; the
deprecated ``collector`` and ``utils`` modules; the error of a model without a FieldTracker.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from helpers import connected

from bulk_tracker import TrackingInfo, suspended, tracking
from bulk_tracker.exceptions import MissingFieldTrackerError
from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.signals import (
    post_create_signal,
    send_post_create_signal,
    send_post_delete_signal,
    send_post_update_signal,
)
from testapp.models import Author, Book, Clerk, Crate, Depot, Note, Publisher, Tag, Untracked

pytestmark = pytest.mark.django_db


@dataclasses.dataclass
class RequestInfo(TrackingInfo):
    """A user's own TrackingInfo, with a field of its own."""

    request_id: str | None = None


def run(coroutine_function: Callable[[], Any]) -> Any:
    async def main() -> Any:
        return await coroutine_function()

    return async_to_sync(main)()


def book(**kwargs: Any) -> Book:
    with suspended():
        return Book.objects.create(**{"title": "old", "stock": 1, **kwargs})


def changed(obj: Book) -> Book:
    obj.stock += 1
    return obj


def clerk_with_a_crate() -> Clerk:
    with suspended():
        depot = Depot.objects.create(name="d")
        clerk = Clerk.objects.create(name="c", depot=depot)
        Crate.objects.create(depot=depot, clerk=clerk, code="x")
    return Clerk.objects.get(pk=clerk.pk)


def author_with_a_book() -> Author:
    with suspended():
        author = Author.objects.create(name="Ann")
        Book.objects.create(title="b", author=author)
    return author


def an_existing_tag() -> Tag:
    with suspended():
        return Tag.objects.create(name="t", color="red")


def asave(obj: Book, info: TrackingInfo | None) -> None:
    run(lambda: obj.asave(tracking_info_=info))


def aupdate(queryset: Any, info: TrackingInfo | None) -> None:
    run(lambda: queryset.aupdate(stock=5, tracking_info_=info))


def abulk_update(obj: Book, info: TrackingInfo | None) -> None:
    run(lambda: Book.objects.abulk_update([obj], ["stock"], tracking_info_=info))


def adelete(target: Any, info: TrackingInfo | None) -> None:
    run(lambda: target.adelete(tracking_info_=info))


# Every write path, with the kinds of signal calls it makes: each must carry the caller's very info.
WRITES: dict[str, tuple[Callable[[TrackingInfo], Any], list[str]]] = {
    "create": (lambda info: Book.objects.create(title="a", tracking_info_=info), ["create"]),
    "create, queryset-only model": (lambda info: Note.objects.create(text="a", tracking_info_=info), ["create"]),
    "save of a new row": (lambda info: Book(title="a").save(tracking_info_=info), ["create"]),
    "save of an existing row": (lambda info: changed(book()).save(tracking_info_=info), ["update"]),
    "save of a new instance over an existing row": (
        lambda info: Book(pk=book().pk, title="new", stock=1).save(tracking_info_=info),
        ["update"],
    ),
    "update": (lambda info: Book.objects.filter(pk=book().pk).update(stock=5, tracking_info_=info), ["update"]),
    "bulk_update": (
        lambda info: Book.objects.bulk_update([changed(book())], ["stock"], tracking_info_=info),
        ["update"],
    ),
    "bulk_create": (lambda info: Book.objects.bulk_create([Book(title="a")], tracking_info_=info), ["create"]),
    "bulk_create ignore_conflicts": (
        lambda info: Tag.objects.bulk_create([Tag(name="new")], ignore_conflicts=True, tracking_info_=info),
        ["create"],
    ),
    "upsert": (
        lambda info: (
            an_existing_tag()
            and Tag.objects.bulk_create(
                [Tag(name="t", color="blue"), Tag(name="new")],
                update_conflicts=True,
                unique_fields=["name"] if connection.features.supports_update_conflicts_with_target else None,
                update_fields=["color"],
                tracking_info_=info,
            )
        ),
        ["create", "update"],
    ),
    "get_or_create": (
        lambda info: Book.objects.get_or_create(title="a", defaults={"stock": 2}, tracking_info_=info),
        ["create"],
    ),
    "update_or_create, updated": (
        lambda info: book() and Book.objects.update_or_create(title="old", defaults={"stock": 9}, tracking_info_=info),
        ["update"],
    ),
    "update_or_create, created": (
        lambda info: Book.objects.update_or_create(title="a", defaults={"stock": 9}, tracking_info_=info),
        ["create"],
    ),
    "queryset delete with a cascade": (
        lambda info: Author.objects.filter(pk=author_with_a_book().pk).delete(tracking_info_=info),
        ["delete", "delete"],
    ),
    "instance delete with SET_NULL": (
        lambda info: clerk_with_a_crate().delete(tracking_info_=info),
        ["update", "delete"],
    ),
    "acreate": (lambda info: run(lambda: Book.objects.acreate(title="a", tracking_info_=info)), ["create"]),
    "asave": (lambda info: asave(changed(book()), info), ["update"]),
    "aupdate": (lambda info: aupdate(Book.objects.filter(pk=book().pk), info), ["update"]),
    "abulk_update": (lambda info: abulk_update(changed(book()), info), ["update"]),
    "abulk_create": (
        lambda info: run(lambda: Book.objects.abulk_create([Book(title="a")], tracking_info_=info)),
        ["create"],
    ),
    "aget_or_create": (
        lambda info: run(lambda: Book.objects.aget_or_create(title="a", tracking_info_=info)),
        ["create"],
    ),
    "aupdate_or_create": (
        lambda info: (
            book()
            and run(lambda: Book.objects.aupdate_or_create(title="old", defaults={"stock": 9}, tracking_info_=info))
        ),
        ["update"],
    ),
    "queryset adelete": (
        lambda info: adelete(Author.objects.filter(pk=author_with_a_book().pk), info),
        ["delete", "delete"],
    ),
    "instance adelete": (lambda info: adelete(clerk_with_a_crate(), info), ["update", "delete"]),
}


@pytest.mark.parametrize("path", list(WRITES))
def test_every_write_path_delivers_the_callers_very_tracking_info(path, received):
    write, kinds = WRITES[path]
    info = RequestInfo(user="u", request_id="r-1")
    with received.committing(), tracking(comment="an enclosing block loses to the explicit info"):
        write(info)
    assert [call.kind for call in received.calls] == kinds
    assert all(call.tracking_info is info for call in received.calls)
    assert info == RequestInfo(user="u", request_id="r-1")


@pytest.mark.parametrize("path", list(WRITES))
def test_a_block_around_a_write_delivers_its_very_info(path, received):
    write, kinds = WRITES[path]
    info = RequestInfo(request_id="r-1")
    with received.committing(), tracking(info):
        write(None)
    assert [call.kind for call in received.calls] == kinds
    assert all(call.tracking_info is info for call in received.calls)


@pytest.mark.parametrize("path", list(WRITES))
def test_nested_blocks_around_a_write_keep_the_subclass_and_its_fields(path, received):
    write, kinds = WRITES[path]
    with received.committing(), tracking(RequestInfo(request_id="r-1")), tracking(comment="inner", kwargs={"k": 1}):
        write(None)
    assert [call.kind for call in received.calls] == kinds
    merged = RequestInfo(comment="inner", kwargs={"k": 1}, request_id="r-1")
    assert all(type(call.tracking_info) is RequestInfo and call.tracking_info == merged for call in received.calls)


def test_a_plain_inner_block_inside_a_subclass_block_keeps_the_outer_fields(received):
    target = book()
    with received.committing(), tracking(RequestInfo(user="u", request_id="r-1")), tracking(comment="inner"):
        Book.objects.filter(pk=target.pk).delete()
    info = received.only("delete").tracking_info
    assert type(info) is RequestInfo
    assert info == RequestInfo(user="u", comment="inner", request_id="r-1")


# --- 0.2.1's positional save(info) and delete(using, keep_parents, info) ---------------------------


def test_save_takes_a_positional_tracking_info_as_0_2_1_did(received):
    info = RequestInfo(request_id="r-1")
    new = Book(title="a")
    existing = changed(book())
    with received.committing():
        new.save(info)
        existing.save(info)
    assert [(c.kind, c.objects, c.tracking_info) for c in received.calls] == [
        ("create", [ModifiedObject(new, {})], info),
        ("update", [ModifiedObject(existing, {"stock": 1})], info),
    ]
    assert all(call.tracking_info is info for call in received.calls)
    assert Book.objects.get(pk=existing.pk).stock == 2


def test_asave_takes_a_positional_tracking_info(received):
    info = RequestInfo(request_id="r-1")
    existing = changed(book())
    with received.committing():
        run(lambda: existing.asave(info))
    assert received.only("update").tracking_info is info
    assert Book.objects.get(pk=existing.pk).stock == 2


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((TrackingInfo(), True), {}),
        ((False, TrackingInfo()), {}),
        ((TrackingInfo(),), {"tracking_info_": TrackingInfo()}),
    ],
    ids=["info then more", "info not first", "positional and keyword"],
)
def test_save_refuses_a_positional_tracking_info_it_cannot_place(args, kwargs, received):
    target = changed(book())
    with received.committing(), pytest.raises(TypeError, match="only positional argument or as tracking_info_="):
        target.save(*args, **kwargs)
    assert received.calls == []
    assert Book.objects.get(pk=target.pk).stock == 1


def test_save_with_djangos_positional_arguments_behaves_as_plain_django(received):
    """Django 4.2-5.2 accept save(force_insert, force_update, using, update_fields) (5.1+ warn); 6.0+ refuse."""

    def outcome(obj: Any) -> tuple[str, list[str]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                obj.save(False, False, None, ["name"])
            except TypeError as error:
                return "TypeError", [str(error)]
        return "saved", [str(w.message) for w in caught]

    plain = Publisher.objects.create(name="old")
    with suspended():
        tracked = Author.objects.create(name="old", email="e@x")
    tracked = Author.objects.get(pk=tracked.pk)
    plain.name, tracked.name, tracked.email = "new", "new", "f@x"
    with received.committing():
        tracked_outcome = outcome(tracked)
    assert tracked_outcome == outcome(plain)
    if tracked_outcome[0] == "saved":  # update_fields=["name"] was honoured, and reported so
        assert received.only("update").objects == [ModifiedObject(tracked, {"name": "old"})]
        assert Author.objects.values_list("name", "email").get() == ("new", "e@x")
    else:
        assert received.calls == []
        assert Author.objects.values_list("name", "email").get() == ("old", "e@x")


def test_delete_takes_0_2_1s_positional_arguments(received):
    info = RequestInfo(request_id="r-1")
    first, second, third = book(title="1"), book(title="2"), book(title="3")
    with received.committing():
        first.delete(None, False, info)
        second.delete(info)
        run(lambda: third.adelete(None, False, info))
    assert [c.kind for c in received.calls] == ["delete"] * 3
    assert all(call.tracking_info is info for call in received.calls)
    assert [c.objects[0].instance.title for c in received.calls] == ["1", "2", "3"]
    assert not Book.objects.exists()


def test_delete_keeps_djangos_keyword_arguments(received):
    info = TrackingInfo(comment="kw")
    target = book()
    with received.committing():
        assert target.delete(using="default", keep_parents=False, tracking_info_=info) == (1, {"testapp.Book": 1})
    assert received.only("delete").tracking_info is info


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((None, TrackingInfo()), {}, "second argument is keep_parents"),
        ((TrackingInfo(),), {"tracking_info_": TrackingInfo()}, "two TrackingInfo arguments"),
    ],
    ids=["info as keep_parents", "two infos"],
)
def test_delete_refuses_a_tracking_info_it_cannot_place(args, kwargs, message, received):
    target = book()
    with received.committing(), pytest.raises(TypeError, match=message):
        target.delete(*args, **kwargs)
    assert received.calls == []
    assert Book.objects.filter(pk=target.pk).exists()


# --- send_post_create_signal / send_post_update_signal / send_post_delete_signal -----------------


def raw_insert_book(title: str) -> Book:
    """A row written behind bulk_tracker's back (raw SQL), loaded afterwards."""
    table = connection.ops.quote_name(Book._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in ("title", "price", "stock", "data"))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s)", [title, 0, 0, "{}"])
    return Book.objects.get(title=title)


def test_send_post_create_signal_delivers_once_after_commit_with_the_very_info(received):
    info = RequestInfo(request_id="r-1")
    with received.committing(), transaction.atomic():
        first, second = raw_insert_book("a"), raw_insert_book("b")
        sent = send_post_create_signal([first, second], Book, info)
        assert received.calls == []  # not before the commit
    call = received.only("create")
    assert (call.sender, call.using) == (Book, "default")
    assert call.objects == sent == [ModifiedObject(first, {}), ModifiedObject(second, {})]
    assert call.objects[0].instance is first
    assert call.tracking_info is info


def test_send_post_delete_signal_takes_the_info_of_the_tracking_context(received):
    info = RequestInfo(request_id="r-1")
    gone = book()
    with received.committing(), tracking(info):
        Book.objects.filter(pk=gone.pk)._raw_delete(using="default")
        send_post_delete_signal([gone], Book)
    call = received.only("delete")
    assert call.objects == [ModifiedObject(gone, {})]
    assert call.tracking_info is info


def test_send_post_update_signal_reports_only_the_fields_that_differ_in_0_2_1s_argument_order(received):
    info = TrackingInfo(comment="raw")
    moved, unchanged = book(title="m", stock=1), book(title="u", stock=1)
    moved.stock = 7
    with received.committing():
        sent = send_post_update_signal(
            [moved, unchanged],
            Book,
            {moved.pk: {"stock": 1, "title": "m"}, unchanged.pk: {"stock": 1}},
            info,
        )
    call = received.only("update")
    assert call.objects == sent == [ModifiedObject(moved, {"stock": 1})]
    assert call.tracking_info is info


def test_send_post_update_signal_takes_modified_objects_as_given(received):
    target = book()
    given = ModifiedObject(target, {"price": Decimal("3.00")})
    with received.committing():
        send_post_update_signal([given, ModifiedObject(target, {})], Book)
    assert received.only("update").objects == [given]
    assert received.calls[0].objects[0] is given


def test_send_post_update_signal_refuses_instances_without_old_values(received):
    target = book()
    with received.committing(), pytest.raises(TypeError, match="needs old_values"):
        send_post_update_signal([target], Book)
    with received.committing(), pytest.raises(KeyError, match=f"no entry for Book pk={target.pk!r}"):
        send_post_update_signal([target], Book, {})
    assert received.calls == []


def test_send_helpers_deliver_nothing_on_rollback_and_inside_suspended(received):
    target = book()
    with received.committing():
        with suspended():
            assert send_post_create_signal([target], Book) == []
        with transaction.atomic():
            send_post_create_signal([target], Book)
            try:
                with transaction.atomic():
                    send_post_delete_signal([target], Book)
                    raise RuntimeError("rolled back")
            except RuntimeError:
                pass
    assert [c.kind for c in received.calls] == ["create"]


def test_send_helpers_keep_operation_order_with_tracked_writes(received):
    target = book()
    with received.committing(), transaction.atomic():
        Book.objects.filter(pk=target.pk).update(stock=2)
        send_post_delete_signal([target], Book)
        Book.objects.create(title="later")
    assert [c.kind for c in received.calls] == ["update", "delete", "create"]


@pytest.mark.django_db(databases=["default", "other"])
def test_send_helpers_deliver_on_the_alias_given_or_the_objects_own(received):
    with suspended():
        elsewhere = Tag.objects.using("other").create(name="o")
    with received.committing():
        send_post_create_signal([elsewhere], Tag)
        send_post_create_signal([Tag(name="unsaved")], Tag, using="other")
    assert [c.using for c in received.calls] == ["other", "other"]


def test_send_helpers_robust_mode_logs_failures_and_runs_every_receiver(received, caplog):
    def failing(**kwargs: Any) -> None:
        raise RuntimeError("receiver failed")

    with connected(post_create_signal, failing, Book):
        target = book()
        with received.committing(), caplog.at_level(logging.ERROR, logger="bulk_tracker"):
            send_post_create_signal([target], Book, TrackingInfo(is_robust=True))
        assert received.only("create").objects == [ModifiedObject(target, {})]
        assert [r.exc_info[1].args for r in caplog.records if r.name == "bulk_tracker"] == [("receiver failed",)]
        caplog.clear()
        # without robust mode, in a transaction (the test's): logged at the commit, not raised
        with received.committing(), caplog.at_level(logging.ERROR, logger="bulk_tracker"):
            send_post_create_signal([target], Book)
        assert [r.exc_info[1].args for r in caplog.records if r.name == "bulk_tracker"] == [("receiver failed",)]


def test_send_helpers_refuse_a_wrong_tracking_info_or_model(received):
    target = book()
    with received.committing(), pytest.raises(TypeError, match="TrackingInfo or None, got dict"):
        send_post_create_signal([target], Book, {"user": "u"})
    with received.committing(), pytest.raises(TypeError, match="must be a Django model class"):
        send_post_delete_signal([target], "Book")
    assert received.calls == []


# --- the deprecated modules ------------------------------------------------------------------------


def test_bulk_tracker_collector_is_deprecated_and_still_reports_with_its_info(received):
    with pytest.warns(DeprecationWarning, match=r"delete\(tracking_info_=\.\.\.\)"):
        from bulk_tracker.collector import BulkTrackerCollector
    info = RequestInfo(request_id="r-1")
    author = author_with_a_book()
    collector = BulkTrackerCollector(using="default")
    collector.collect([author])
    with received.committing():
        assert collector.delete(tracking_info_=info) == (2, {"testapp.Book": 1, "testapp.Author": 1})
    assert [c.kind for c in received.calls] == ["delete", "delete"]
    assert all(call.tracking_info is info for call in received.calls)


def test_bulk_tracker_utils_is_deprecated_and_get_old_values_still_reads_the_values():
    target = book(title="t", stock=3)
    with pytest.warns(DeprecationWarning, match="send_post_update_signal"):
        from bulk_tracker.utils import get_old_values
    assert get_old_values(target, {"title": "new", "stock": 4}) == {"title": "t", "stock": 3}


def test_deprecated_modules_have_no_other_names():
    import bulk_tracker.collector
    import bulk_tracker.utils

    with pytest.raises(AttributeError, match="has no attribute 'get_old_values'"):
        bulk_tracker.collector.get_old_values  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'BulkTrackerCollector'"):
        bulk_tracker.utils.BulkTrackerCollector  # noqa: B018


# --- a model without a FieldTracker --------------------------------------------------------------------


def test_missing_field_tracker_error_stays_importable_and_a_model_without_a_tracker_saves_reported(received):
    """0.2.1 raised MissingFieldTrackerError here; the class is kept for handlers, the save now just works."""
    from bulk_tracker.models import MissingFieldTrackerError as FromModels

    assert FromModels is MissingFieldTrackerError
    assert issubclass(MissingFieldTrackerError, ImproperlyConfigured)
    assert issubclass(MissingFieldTrackerError, AttributeError)
    with suspended():
        row = Untracked.objects.create(value=1)
    row.value = 2
    with received.committing():
        row.save()
    assert received.only("update").objects == [ModifiedObject(row, {"value": 1})]
    assert Untracked.objects.get().value == 2
