"""Before-write signals: sent inside the write's transaction, after the locked read; a raising receiver vetoes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.dispatch import Signal
from helpers import UPDATE_STATEMENTS, sql_of

from bulk_tracker import TrackingInfo, suspended
from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.signals import pre_create_signal, pre_delete_signal, pre_update_signal
from testapp.models import Author, Book, Note

pytestmark = pytest.mark.django_db


class VetoError(Exception):
    pass


@contextmanager
def before(signal: Signal, receiver: Callable[..., Any], sender: Any = Book) -> Iterator[list[dict[str, Any]]]:
    """``receiver`` connected to ``signal`` for the block; yields the calls, each its kwargs and what it saw."""
    calls: list[dict[str, Any]] = []

    def record(sender: Any, **kwargs: Any) -> Any:
        calls.append(
            {
                "sender": sender,
                **kwargs,
                "in_transaction": connection.in_atomic_block,
                "pks": [obj.pk for obj in kwargs["objects"]],  # a delete sets them to None afterwards
                "stored": sorted(Book.objects.values_list("pk", "stock")),
            }
        )
        return receiver(sender=sender, **kwargs)

    signal.connect(record, sender=sender, weak=False, dispatch_uid="test_before_write")
    try:
        yield calls
    finally:
        signal.disconnect(sender=sender, dispatch_uid="test_before_write")


def nothing(**kwargs: Any) -> None:
    return None


def veto(**kwargs: Any) -> None:
    Note.objects.create(text="written by the vetoing receiver")
    raise VetoError("no")


def table() -> list[tuple[Any, ...]]:
    return sorted(Book.objects.values_list("pk", "title", "price", "stock", "author_id"))


def test_update_sends_the_rows_about_to_change_and_the_values_as_given(books, received):
    increment = F("stock") + 1
    info = TrackingInfo(comment="restock")
    with before(pre_update_signal, nothing) as calls, received.committing():
        count = Book.objects.filter(author__name="Ann").update(stock=increment, title="x", tracking_info_=info)
    assert count == 2
    [call] = calls
    assert call["sender"] is Book
    assert call["using"] == "default"
    assert call["tracking_info_"] is info
    assert call["values"] == {
        books[0].pk: {"stock": increment, "title": "x"},
        books[1].pk: {"stock": increment, "title": "x"},
    }
    assert call["values"][books[0].pk]["stock"] is increment
    assert call["objects"] == books[:2]
    assert [(b.title, b.stock, b.price, b.author_id) for b in call["objects"]] == [
        ("a", 1, Decimal("5.00"), books[0].author_id),
        ("b", 0, Decimal("7.00"), books[0].author_id),
    ]
    assert call["in_transaction"]
    assert call["stored"] == [(books[0].pk, 1), (books[1].pk, 0), (books[2].pk, 3)]
    post = received.only("update")
    assert post.objects == [
        ModifiedObject(books[0], {"stock": 1, "title": "a"}),
        ModifiedObject(books[1], {"stock": 0, "title": "b"}),
    ]


def test_a_veto_of_update_writes_nothing_sends_nothing_and_leaves_the_callers_transaction_usable(books, received):
    stored = table()
    with before(pre_update_signal, veto) as calls, received.committing(), transaction.atomic():
        with pytest.raises(VetoError, match="no"):
            Book.objects.update(stock=F("stock") + 10)
        assert Book.objects.count() == 3  # the caller's transaction is still usable
    assert len(calls) == 1
    assert table() == stored
    assert not Note.objects.exists()  # the receiver's own write went with its veto
    assert received.calls == []


def test_update_with_only_a_before_receiver_sends_no_after_signal_and_writes_as_django(books, received):
    with before(pre_update_signal, nothing) as calls, received.committing():
        assert Book.objects.filter(stock__gt=0).update(stock=F("stock") * 2) == 2
    assert [len(call["objects"]) for call in calls] == [2]
    assert table() == [
        (books[0].pk, "a", Decimal("5.00"), 2, books[0].author_id),
        (books[1].pk, "b", Decimal("7.00"), 0, books[1].author_id),
        (books[2].pk, "c", Decimal("9.00"), 6, None),
    ]


def test_an_update_matching_nothing_sends_no_before_signal(books, received):
    with before(pre_update_signal, veto) as calls, received.committing():
        assert Book.objects.filter(stock=99).update(stock=1) == 0
    assert calls == []
    assert received.calls == []


def test_bulk_update_sends_the_stored_rows_and_what_each_is_about_to_get(books, received):
    books[0].price, books[1].stock = Decimal("6.00"), 5
    with before(pre_update_signal, nothing) as calls, received.committing():
        assert Book.objects.bulk_update(books[:2], ["price", "stock"]) == 2
    [call] = calls
    assert call["objects"] == books[:2]
    assert [(b.price, b.stock) for b in call["objects"]] == [(Decimal("5.00"), 1), (Decimal("7.00"), 0)]
    assert call["values"] == {
        books[0].pk: {"price": Decimal("6.00"), "stock": 1},
        books[1].pk: {"price": Decimal("7.00"), "stock": 5},
    }
    assert call["in_transaction"]
    assert [o.changed_values for o in received.only("update").objects] == [{"price": Decimal("5.00")}, {"stock": 0}]


def test_a_veto_of_bulk_update_writes_nothing_and_sends_nothing(books, received):
    stored = table()
    for book in books:
        book.stock += 100
    with before(pre_update_signal, veto) as calls, received.committing(), pytest.raises(VetoError):
        Book.objects.bulk_update(books, ["stock"], batch_size=1)
    assert len(calls) == 1
    assert table() == stored
    assert not Note.objects.exists()
    assert received.calls == []


def test_bulk_create_and_create_send_the_objects_about_to_be_inserted(received):
    new = [Book(title="n1", stock=4), Book(title="n2")]
    with before(pre_create_signal, nothing) as calls, received.committing():
        Book.objects.bulk_create(new)
    [call] = calls
    assert call["objects"] == new
    assert call["objects"][0] is new[0]
    assert call["values"] is None
    assert call["in_transaction"]
    assert call["stored"] == []
    assert [o.instance for o in received.only("create").objects] == new


def test_a_veto_of_bulk_create_inserts_nothing_and_sends_nothing(received):
    with before(pre_create_signal, veto) as calls, received.committing(), pytest.raises(VetoError):
        Book.objects.bulk_create([Book(title="n1"), Book(title="n2")])
    assert len(calls) == 1
    assert not Book.objects.exists()
    assert not Note.objects.exists()
    assert received.calls == []


def test_no_before_signal_inside_suspended(books, received):
    with before(pre_update_signal, veto) as calls, suspended():
        Book.objects.update(stock=0)
        Book.objects.bulk_update(books, ["title"])
    assert calls == []


def test_a_before_receiver_for_another_model_costs_nothing(books, received):
    with before(pre_update_signal, veto, sender=Author) as calls, received.committing():
        statements = sql_of(lambda: Book.objects.update(stock=F("stock") + 1))
    assert calls == []
    assert len(statements) == UPDATE_STATEMENTS[connection.vendor]


def test_save_sends_the_row_as_last_saved_and_the_values_about_to_be_written(books, received):
    book = Book.objects.get(pk=books[0].pk)
    book.stock, book.title = 9, "renamed"
    with before(pre_update_signal, nothing) as calls, received.committing():
        book.save()
    [call] = calls
    [stored] = call["objects"]
    assert stored == book
    assert stored is not book
    assert (stored.stock, stored.title) == (1, "a")
    [(pk, about)] = call["values"].items()
    assert pk == book.pk
    assert {name: about[name] for name in ("stock", "title")} == {"stock": 9, "title": "renamed"}
    assert call["in_transaction"]
    assert received.only("update").objects == [ModifiedObject(book, {"stock": 1, "title": "a"})]


def test_a_veto_of_save_or_create_writes_nothing_and_sends_nothing(books, received):
    stored = table()
    book = Book.objects.get(pk=books[1].pk)
    book.stock = 50
    with before(pre_update_signal, veto), before(pre_create_signal, veto, sender=Book), received.committing():
        with pytest.raises(VetoError):
            book.save()
        with pytest.raises(VetoError):
            Book.objects.create(title="new")
    assert table() == stored
    assert not Note.objects.exists()
    assert received.calls == []


def test_delete_sends_the_rows_about_to_go_with_their_cascade(books, received):
    from testapp.models import Review

    reviews = [Review.objects.create(book=books[0], text="r1"), Review.objects.create(book=books[1], text="r2")]
    with (
        before(pre_delete_signal, nothing) as book_calls,
        before(pre_delete_signal, nothing, sender=Review) as review_calls,
        received.committing(),
    ):
        deleted = Author.objects.filter(name="Ann").delete()
    assert deleted[0] == 5
    [call] = book_calls
    assert call["pks"] == [books[0].pk, books[1].pk]
    assert [(b.title, b.price) for b in call["objects"]] == [("a", Decimal("5.00")), ("b", Decimal("7.00"))]
    assert call["values"] is None
    assert call["in_transaction"]
    assert call["stored"] == [(books[0].pk, 1), (books[1].pk, 0), (books[2].pk, 3)]  # nothing deleted yet
    assert [call["pks"] for call in review_calls] == [[r.pk for r in reviews]]
    assert sorted(o.instance.pk for o in received.of("delete")[0].objects) == [books[0].author_id]


def test_a_veto_of_delete_deletes_nothing_sets_nothing_and_sends_nothing(books, received):
    from testapp.models import Critic, Review

    critic = Critic.objects.create(name="c")
    Review.objects.create(book=books[0], text="r", critic=critic)
    stored = table()
    with before(pre_delete_signal, veto) as calls, received.committing(), transaction.atomic():
        with pytest.raises(VetoError):
            Author.objects.all().delete()
        with pytest.raises(VetoError):
            books[2].delete()
        assert Book.objects.count() == 3  # the caller's transaction is still usable
    assert len(calls) == 2
    assert table() == stored
    assert Review.objects.get().critic == critic
    assert not Note.objects.exists()
    assert received.calls == []


def test_a_fast_deleted_queryset_is_collected_for_a_before_receiver(books, received):
    with before(pre_delete_signal, nothing) as calls, received.committing():
        assert Book.objects.filter(stock__gte=1).delete() == (2, {"testapp.Book": 2})
    assert [call["pks"] for call in calls] == [[books[0].pk, books[2].pk]]
    assert sorted(o.instance.pk for o in received.only("delete").objects) == [books[0].pk, books[2].pk]


def test_a_before_delete_receiver_for_another_model_leaves_djangos_delete(books, received):
    ours = sql_of(lambda: Book.objects.filter(pk=books[0].pk).delete())
    with before(pre_delete_signal, veto, sender=Author) as calls:
        with_receiver = sql_of(lambda: Book.objects.filter(pk=books[1].pk).delete())
    assert calls == []
    assert [s.split(" WHERE")[0] for s in with_receiver] == [s.split(" WHERE")[0] for s in ours]


def test_a_new_instance_saved_over_an_existing_row_is_announced_as_an_update(books, received):
    with (
        before(pre_update_signal, nothing) as updates,
        before(pre_create_signal, nothing) as creates,
        received.committing(),
    ):
        Book(pk=books[0].pk, title="over", price=Decimal("1.00"), stock=1, author=books[0].author).save()
        Book(pk=10**6, title="new", price=Decimal("1.00")).save()  # no such row: an insert
    assert [call["pks"] for call in updates] == [[books[0].pk]]
    assert (updates[0]["objects"][0].title, updates[0]["objects"][0].price) == ("a", Decimal("5.00"))
    assert updates[0]["values"][books[0].pk]["title"] == "over"
    assert [call["pks"] for call in creates] == [[10**6]]
    assert [call.kind for call in received.calls] == ["update", "create"]


def test_a_veto_stops_a_new_instance_saved_over_an_existing_row(books, received):
    stored = table()
    with before(pre_update_signal, veto), received.committing(), pytest.raises(VetoError):
        Book(pk=books[0].pk, title="over", price=Decimal("0.00"), author=books[0].author).save()
    assert table() == stored
    assert received.calls == []


def test_save_with_no_update_fields_sends_nothing_as_django_writes_nothing(books, received):
    book = Book.objects.get(pk=books[0].pk)
    book.title = "unsaved"
    with before(pre_update_signal, veto) as calls, received.committing():
        assert sql_of(lambda: book.save(update_fields=[])) == []
    assert calls == []
    assert received.calls == []


def test_save_with_update_fields_from_a_generator_writes_them(books, received):
    book = Book.objects.get(pk=books[0].pk)
    book.title, book.stock = "renamed", 9
    with before(pre_update_signal, nothing) as calls, received.committing():
        book.save(update_fields=(name for name in ["title"]))
    assert Book.objects.values_list("title", "stock").get(pk=book.pk) == ("renamed", 1)
    assert [call["pks"] for call in calls] == [[book.pk]]
    assert received.only("update").objects == [ModifiedObject(book, {"title": "a"})]


@pytest.mark.django_db(transaction=True)
def test_a_veto_anywhere_in_a_cascade_takes_every_before_receivers_writes_with_it():
    author = Author.objects.create(name="Ann")
    Book.objects.create(title="a", author=author)

    def log_authors(sender: Any, objects: Any, **kwargs: Any) -> None:
        Note.objects.create(text=f"about to delete {len(objects)} authors")

    pre_delete_signal.connect(log_authors, sender=Author, weak=False, dispatch_uid="test_before_write.log")
    pre_delete_signal.connect(veto, sender=Book, weak=False, dispatch_uid="test_before_write.veto")
    try:
        with pytest.raises(VetoError):
            author.delete()  # autocommit: the delete's own transaction
    finally:
        pre_delete_signal.disconnect(sender=Author, dispatch_uid="test_before_write.log")
        pre_delete_signal.disconnect(sender=Book, dispatch_uid="test_before_write.veto")
    assert (Author.objects.count(), Book.objects.count()) == (1, 1)
    assert not Note.objects.exists()


def _ledger_rows(model: Any) -> list[tuple[Any, ...]]:
    return list(model.objects.order_by("pk").values_list("label", "amount", "qty", "data"))


def _seed(model: Any) -> None:
    with suspended():
        model.objects.bulk_create(model(label=f"l{i}", amount=Decimal(i), qty=i, data={"i": i}) for i in range(4))


def _write(model: Any, op: str) -> Any:
    if op == "update":
        return model.objects.filter(qty__gte=1).update(qty=F("qty") * 2, label="u")
    if op == "bulk_update":
        objs = list(model.objects.order_by("pk"))
        for obj in objs:
            obj.amount, obj.data = obj.amount + 1, {"j": obj.qty}
        return model.objects.bulk_update(objs, ["amount", "data"], batch_size=3)
    if op == "save":
        obj = model.objects.order_by("pk")[1]
        obj.label = "saved"
        return obj.save()
    if op == "bulk_create":
        return len(model.objects.bulk_create([model(label="n", qty=9), model(label="m")]))
    if op == "create":
        return model.objects.create(label="c", qty=5).label
    return model.objects.filter(qty__lt=2).delete()[0]


@pytest.mark.parametrize("op", ["update", "bulk_update", "save", "bulk_create", "create", "delete"])
def test_with_before_receivers_every_write_changes_the_table_as_on_a_plain_twin(received, op):
    from testapp.models import Ledger, PlainLedger

    _seed(Ledger)
    _seed(PlainLedger)
    signals = (pre_update_signal, pre_create_signal, pre_delete_signal)
    with ExitStack() as stack:
        calls = [stack.enter_context(before(signal, nothing, sender=Ledger)) for signal in signals]
        stack.enter_context(received.committing())
        ours = _write(Ledger, op)
    assert ours == _write(PlainLedger, op)
    assert _ledger_rows(Ledger) == _ledger_rows(PlainLedger)
    assert sum(len(c) for c in calls) == 1  # one before-write call for the operation
