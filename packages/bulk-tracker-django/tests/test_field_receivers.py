"""Receivers for the fields they care about: ``post_update_signal.connect(r, sender=..., fields=..., ignore=...)``."""

from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import django
import pytest
from django.db import models
from django.db.models import Case, F, Value, When
from django.dispatch import receiver
from django.dispatch.dispatcher import _make_id
from django.utils import timezone
from helpers import sql_of

from bulk_tracker import receivers, suspended
from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.signals import post_update_signal
from testapp.models import Author, Book, Desk, Jotting

pytestmark = pytest.mark.django_db


class Calls:
    """A receiver recording the objects of each call."""

    def __init__(self) -> None:
        self.calls: list[list[ModifiedObject[Any]]] = []

    def __call__(self, sender: Any, objects: list[ModifiedObject[Any]], **kwargs: Any) -> None:
        self.calls.append(objects)


@pytest.fixture
def connect():
    """Connect receivers for the test; each is disconnected at its end."""
    connected: list[tuple[Any, Any]] = []

    def connect(receiver: Any, sender: Any = Book, **kwargs: Any) -> Any:
        post_update_signal.connect(receiver, sender=sender, weak=False, **kwargs)
        connected.append((receiver, sender))
        return receiver

    yield connect
    for receiver_, sender in connected:
        post_update_signal.disconnect(receiver_, sender=sender)


def test_a_field_receiver_gets_only_the_rows_where_a_field_it_watches_changed(books, connect, received):
    stock, price, every = connect(Calls(), fields={"stock"}), connect(Calls(), fields={"price", "rating"}), Calls()
    connect(every)
    with received.committing():
        Book.objects.update(stock=Case(When(stock=0, then=Value(4)), default=F("stock")), price=Decimal("9.00"))
    assert len(received.of("update")) == 1
    assert every.calls == [
        [
            ModifiedObject(books[0], {"price": Decimal("5.00")}),
            ModifiedObject(books[1], {"stock": 0, "price": Decimal("7.00")}),
        ]
    ]
    assert stock.calls == [[ModifiedObject(books[1], {"stock": 0, "price": Decimal("7.00")})]]
    assert price.calls == every.calls
    assert stock.calls[0][0] is every.calls[0][1]  # the same object, its changed_values whole


def test_a_field_receiver_is_not_called_when_no_row_changed_what_it_watches(books, connect, received):
    rating, every = connect(Calls(), fields={"rating"}), connect(Calls())
    with received.committing():
        Book.objects.filter(pk=books[0].pk).update(stock=F("stock") + 1, title="z")
    assert [len(objects) for objects in every.calls] == [1]
    assert rating.calls == []


def test_an_operation_no_receiver_counts_is_djangos_own_sql(books, connect, django_capture_on_commit_callbacks):
    price = connect(Calls(), fields={"price"})
    when = timezone.now()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ours = [
            *sql_of(lambda: Book.objects.filter(stock__gte=1).update(stock=F("stock") + 1, published=when)),
            *sql_of(lambda: Book.objects.bulk_update(books, ["title", "stock"])),
            *sql_of(lambda: books[0].save(update_fields=["title"])),
        ]
    django_sql = [
        *sql_of(lambda: models.QuerySet(Book).filter(stock__gte=1).update(stock=F("stock") + 1, published=when)),
        *sql_of(lambda: models.QuerySet(Book).bulk_update(books, ["title", "stock"])),
        *sql_of(lambda: models.Model.save(books[0], update_fields=["title"])),
    ]
    assert ours == django_sql
    assert callbacks == []
    assert price.calls == []


def test_ignore_leaves_out_rows_whose_only_change_is_an_ignored_field(connect, django_capture_on_commit_callbacks):
    jottings = [Jotting.objects.create(text="a"), Jotting.objects.create(text="b")]
    real = connect(Calls(), sender=Jotting, ignore={"updated"})
    with django_capture_on_commit_callbacks(execute=True):
        statements = sql_of(lambda: Jotting.objects.update(updated=timezone.now()))
        jottings[0].save()  # auto_now only
        jottings[1].text = "B"
        jottings[1].save()
    assert len(statements) == 1
    assert statements[0].startswith("UPDATE")
    assert [[(o.instance.pk, set(o.changed_values)) for o in objects] for objects in real.calls] == [
        [(jottings[1].pk, {"text", "updated"})]
    ]


def test_fields_and_ignore_together_count_the_watched_fields_not_ignored(books, connect, received):
    watched = connect(Calls(), fields={"stock", "title"}, ignore={"title"})
    with received.committing():
        Book.objects.update(title="same for all")
        Book.objects.filter(pk=books[2].pk).update(stock=0)
    assert watched.calls == [[ModifiedObject(books[2], {"stock": 3})]]


@pytest.mark.parametrize("written", ["author", "author_id"])
def test_a_foreign_key_is_watched_by_its_name_or_attname(books, connect, received, written):
    bob = Author.objects.create(name="Bob")
    by_name, by_attname = connect(Calls(), fields={"author"}), connect(Calls(), fields={"author_id"})
    with received.committing():
        Book.objects.filter(pk=books[0].pk).update(**{written: bob if written == "author" else bob.pk})
    assert [[o.instance.pk for o in objects] for objects in by_name.calls] == [[books[0].pk]]
    assert by_attname.calls == by_name.calls


def test_a_receiver_for_every_sender_counts_only_models_that_have_the_field(books, connect, received):
    names = connect(Calls(), sender=None, fields={"name"})
    with received.committing():
        Book.objects.update(stock=9)  # Book has no `name`
        Author.objects.update(name="Zed")
    assert [[type(o.instance) for o in objects] for objects in names.calls] == [[Author]]


def test_bulk_update_and_save_deliver_to_field_receivers(books, connect, received):
    price = connect(Calls(), fields={"price"})
    books[0].price, books[1].stock = Decimal("6.00"), 8
    with received.committing():
        Book.objects.bulk_update(books, ["price", "stock"])
        books[2].price = Decimal("1.00")
        books[2].save()
        books[2].title = "only the title"
        books[2].save()
    assert [[(o.instance.pk, o.changed_values) for o in objects] for objects in price.calls] == [
        [(books[0].pk, {"price": Decimal("5.00")})],
        [(books[2].pk, {"price": Decimal("9.00")})],
    ]
    assert len(received.of("update")) == 3


def test_a_set_null_no_receiver_counts_is_djangos_own_delete(connect, django_capture_on_commit_callbacks):
    for name in "de":
        Jotting.objects.create(text=name, desk=Desk.objects.create(name=name))
    text = connect(Calls(), sender=Jotting, fields={"text"})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ours = sql_of(lambda: Desk.objects.filter(name="d").delete())
    with suspended():
        django_sql = sql_of(lambda: Desk.objects.filter(name="e").delete())
    assert len(ours) == len(django_sql)
    assert [s.split(" WHERE")[0] for s in ours] == [s.split(" WHERE")[0] for s in django_sql]
    assert callbacks == []
    assert text.calls == []
    assert Jotting.objects.filter(desk=None).count() == 2


def test_the_decorator_and_disconnect_work_as_for_any_receiver(books, received):
    calls = Calls()

    @receiver(post_update_signal, sender=Book, fields={"stock"})
    def on_stock(sender: Any, objects: list[ModifiedObject[Any]], **kwargs: Any) -> None:
        calls(sender, objects)

    with received.committing():
        Book.objects.filter(pk=books[0].pk).update(stock=2)
    assert post_update_signal.disconnect(on_stock, sender=Book) is True
    with received.committing():
        Book.objects.filter(pk=books[0].pk).update(stock=3)
    assert [[o.changed_values for o in objects] for objects in calls.calls] == [[{"stock": 1}]]
    assert post_update_signal.disconnect(on_stock, sender=Book) is False


def test_a_weakly_connected_field_receiver_lives_as_long_as_the_receiver(books, received):
    calls: list[int] = []

    def on_stock(sender: Any, objects: list[Any], **kwargs: Any) -> None:
        calls.append(len(objects))

    post_update_signal.connect(on_stock, sender=Book, fields={"stock"})
    with received.committing():
        Book.objects.update(stock=7)
    assert calls == [3]
    del on_stock
    gc.collect()
    with received.committing():
        Book.objects.update(stock=8)
    assert calls == [3]


class Shop:
    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_price(self, sender: Any, objects: list[Any], **kwargs: Any) -> None:
        self.seen.extend(o.instance.pk for o in objects)


def test_a_bound_method_receiver_is_disconnected_by_its_method(books, received):
    shop = Shop()
    post_update_signal.connect(shop.on_price, sender=Book, fields={"price"})
    with received.committing():
        Book.objects.filter(pk=books[1].pk).update(price=Decimal("1.00"))
    assert post_update_signal.disconnect(shop.on_price, sender=Book) is True
    with received.committing():
        Book.objects.update(price=Decimal("2.00"))
    assert shop.seen == [books[1].pk]


@pytest.mark.skipif(django.VERSION < (5, 0), reason="Django calls async receivers from 5.0 on")
def test_an_async_field_receiver_gets_only_its_rows(books, connect, received):
    seen: list[list[Any]] = []

    async def on_price(sender: Any, objects: list[Any], **kwargs: Any) -> None:
        seen.append([(o.instance.pk, o.changed_values) for o in objects])

    connect(on_price, fields={"price"})
    with received.committing():
        Book.objects.update(price=Decimal("7.00"))
        Book.objects.update(stock=0)
    assert seen == [[(books[0].pk, {"price": Decimal("5.00")}), (books[2].pk, {"price": Decimal("9.00")})]]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fields": "price"}, TypeError, "collection of field names"),
        ({"fields": {"price", 3}}, TypeError, "field names"),
        ({"fields": set()}, ValueError, "never be called"),
        ({"fields": {"prize"}}, ValueError, "testapp.Book has no concrete or many-to-many field named 'prize'"),
        ({"ignore": {"reviews"}}, ValueError, "no concrete or many-to-many field named 'reviews'"),
    ],
)
def test_bad_field_names_are_refused_and_nothing_is_connected(kwargs, error, message):
    def on_update(sender: Any, **kw: Any) -> None:
        raise AssertionError("never connected")

    with pytest.raises(error, match=message):
        post_update_signal.connect(on_update, sender=Book, **kwargs)
    assert post_update_signal.disconnect(on_update, sender=Book) is False


@dataclass
class Audit:
    """Equal by value, so unhashable: Django connects its bound methods all the same."""

    name: str
    seen: list[int] = field(default_factory=list)

    def on_price(self, sender: Any, objects: list[Any], **kwargs: Any) -> None:
        self.seen.extend(o.pk for o in objects)


def test_receivers_of_equal_or_unhashable_objects_live_and_die_each_on_its_own(books, received):
    first, second = Audit("same"), Audit("same")  # equal, unhashable
    post_update_signal.connect(first.on_price, sender=Book, fields={"price"})
    post_update_signal.connect(second.on_price, sender=Book, fields={"price"})
    del first
    gc.collect()
    try:
        with received.committing():
            Book.objects.filter(pk=books[0].pk).update(price=Decimal("1.00"))
    finally:
        post_update_signal.disconnect(second.on_price, sender=Book)
    assert second.seen == [books[0].pk]


def test_disconnect_lets_go_of_the_wrapper_and_a_second_connect_adds_none(books, received):
    def on_price(sender: Any, objects: list[Any], **kwargs: Any) -> None:
        calls.append(len(objects))

    calls: list[int] = []
    post_update_signal.connect(on_price, sender=Book, fields={"price"})
    post_update_signal.connect(on_price, sender=Book, fields={"stock"})  # ignored, as Django ignores it
    wrapper = weakref.ref(receivers._connected(post_update_signal, (_make_id(on_price), _make_id(Book))))
    with received.committing():
        Book.objects.update(price=Decimal("3.00"), stock=5)
    assert post_update_signal.disconnect(on_price, sender=Book) is True
    gc.collect()
    assert wrapper() is None
    assert calls == [3]
