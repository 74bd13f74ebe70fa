"""Delivery side effects: what our receivers and deliveries must not do to the application around them.

* inside ``suspended()`` a connected delete receiver costs nothing: Django's own fast deletes, statement
  for statement the same delete with no receiver;
* a receiver that raises (no robust mode) never drops someone else's ``on_commit`` callbacks nor the
  other deliveries of the commit: in the caller's transaction the failure is logged on ``bulk_tracker``
  at the commit, as Django's ``on_commit(robust=True)`` does; in autocommit it reaches the caller once
  everything the write queued has run. The receivers connected after it for that one signal call are
  not called (Django's ``Signal.send``); ``is_robust=True`` calls them;
* a delivery runs in the tracking state of the moment it was queued: a commit made inside
  ``suspended()`` (or outside the ``tracking()`` block of the write) does not suspend (or change the
  info of) the writes its receivers make.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models.signals import post_delete as django_post_delete
from django.test.utils import CaptureQueriesContext
from helpers import connected

from bulk_tracker import TrackingInfo, suspended, tracking
from bulk_tracker.signals import post_create_signal, post_delete_signal, post_update_signal
from testapp.models import Author, Book, Critic, Review, Tag

pytestmark = pytest.mark.django_db


class Rollback(Exception):  # noqa: N818 - rolls the rehearsal back
    pass


def statements_rolled_back(delete: Callable[[], Any]) -> tuple[list[str], Any]:
    """The SQL and result of ``delete()``, whose effects are then rolled back."""
    try:
        with transaction.atomic():
            with CaptureQueriesContext(connection) as queries:
                result = delete()
            raise Rollback
    except Rollback:
        pass
    return [q["sql"] for q in queries], result


@pytest.fixture
def library():
    ann = Author.objects.create(name="Ann")
    critic = Critic.objects.create(name="C")
    Critic.objects.create(name="anonymous")  # Review.fallback_critic's SET(): Django 4.2 calls it with no row to set
    books = [Book.objects.create(title=f"b{i}", author=ann) for i in range(3)]
    for book in books:
        Review.objects.create(book=book, author=ann, critic=critic, text="r")
    return ann, critic


@pytest.mark.parametrize(
    "delete",
    [
        pytest.param(lambda ann, critic: Author.objects.get(pk=ann.pk).delete(), id="instance-cascade"),
        pytest.param(lambda ann, critic: Book.objects.filter(author=ann).delete(), id="queryset-cascade"),
        pytest.param(lambda ann, critic: Critic.objects.get(pk=critic.pk).delete(), id="set-null"),
        pytest.param(lambda ann, critic: Review.objects.all().delete(), id="fast-queryset"),
    ],
)
def test_inside_suspended_a_delete_costs_exactly_djangos_own_sql(library, delete):
    ann, critic = library
    expected = statements_rolled_back(lambda: delete(ann, critic))
    calls = []
    with connected(post_delete_signal, lambda **kw: calls.append(kw)), connected(post_update_signal, calls.append):
        with suspended():
            assert statements_rolled_back(lambda: delete(ann, critic)) == expected
        assert calls == []
        tracked = statements_rolled_back(lambda: delete(ann, critic))
    assert tracked[1] == expected[1]
    assert tracked[0] != expected[0]  # the receiver is connected: outside suspended() the delete reads what it reports


# --- a receiver that raises, without robust mode ----------------------------------------------------


class BoomError(Exception):
    pass


def failing(sender, **kwargs):
    raise BoomError(f"receiver failed for {sender.__name__}")


def failures_logged(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bulk_tracker" and r.exc_info and r.exc_info[0] is BoomError]


@pytest.mark.django_db(transaction=True)
def test_in_a_transaction_a_failing_receiver_drops_nothing_else_of_the_commit(capture_signals, caplog):
    """The application's callback queued after ours runs, the later delivery is made, the write stands;
    the failure is logged with its traceback and does not reach the caller; the receiver connected
    after the failing one is not called for that signal call (Signal.send), the one before it is."""
    ann = Author.objects.create(name="Ann")
    book = Book.objects.create(title="Dune", author=ann)
    ran, before, after = [], [], []
    with (
        capture_signals() as captured,  # connected first: it sees the failing delivery
        connected(post_update_signal, lambda objects, **kw: before.append(len(objects)), Author),
        connected(post_update_signal, failing, Author),
        connected(post_update_signal, lambda objects, **kw: after.append(len(objects)), Author),
        caplog.at_level(logging.ERROR, logger="bulk_tracker"),
        transaction.atomic(),
    ):
        Author.objects.update(name="Bea")
        transaction.on_commit(lambda: ran.append("mail"))
        Book.objects.filter(pk=book.pk).update(stock=3)
    assert ran == ["mail"]
    assert [(c.kind, c.sender) for c in captured.calls] == [("update", Author), ("update", Book)]
    assert (before, after) == ([1], [])
    assert Author.objects.get().name == "Bea"
    [record] = failures_logged(caplog)
    assert "testapp.Author" in record.getMessage()
    assert "in failing" in logging.Formatter().formatException(record.exc_info)


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_a_delete_runs_the_applications_callbacks_then_the_failure_reaches_the_caller(
    capture_signals,
):
    """A delete commits its own transaction: a post_delete handler's on_commit callback (mail) queued
    there runs, every delivery of the delete is made (the SET_NULL update, each model's rows), then the
    first failure reaches the caller. The delete stands."""
    ann = Author.objects.create(name="Ann")
    critic = Critic.objects.create(name="harsh")
    Critic.objects.create(name="anonymous")
    book = Book.objects.create(title="Dune", author=ann)
    Review.objects.create(book=book, critic=critic)  # SET_NULL when the critic goes
    Review.objects.create(book=book)
    ran = []

    def mail(sender, instance, **kwargs):
        transaction.on_commit(lambda: ran.append(f"mail {sender.__name__}"))

    with (
        capture_signals() as captured,
        connected(post_update_signal, failing, Review),
        pytest.raises(BoomError, match="Review"),
    ):
        Critic.objects.filter(pk=critic.pk).delete()  # the SET_NULL update fails, the Critic is still reported
    assert [(c.kind, c.sender) for c in captured.calls] == [("update", Review), ("delete", Critic)]
    assert not Critic.objects.filter(pk=critic.pk).exists()
    with (
        capture_signals() as captured,
        connected(django_post_delete, mail, Book),
        connected(post_delete_signal, failing, Book),
        pytest.raises(BoomError, match="Book"),
    ):
        ann.delete()  # cascades to the book and its reviews; the Book delivery fails
    assert ran == ["mail Book"]
    assert sorted(c.sender.__name__ for c in captured.calls) == ["Author", "Book", "Review"]
    assert not Book.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_an_upsert_makes_each_delivery_then_the_failure_reaches_the_caller(capture_signals):
    Tag.objects.create(name="a")
    target = {"unique_fields": ["name"]} if connection.features.supports_update_conflicts_with_target else {}
    with (
        capture_signals() as captured,
        connected(post_create_signal, failing, Tag),
        pytest.raises(BoomError),
    ):
        Tag.objects.bulk_create(
            [Tag(name="a", color="red"), Tag(name="b")], update_conflicts=True, update_fields=["color"], **target
        )
    assert [(c.kind, c.sender) for c in captured.calls] == [("create", Tag), ("update", Tag)]
    assert dict(Tag.objects.values_list("name", "color")) == {"a": "red", "b": "grey"}


@pytest.mark.django_db(transaction=True)
def test_robust_mode_in_a_transaction_calls_every_receiver_and_logs_each_failure(capture_signals, caplog):
    Author.objects.create(name="Ann")
    after = []
    with (
        capture_signals() as captured,
        connected(post_update_signal, failing, Author),
        connected(post_update_signal, lambda objects, **kw: after.append(len(objects)), Author),
        caplog.at_level(logging.ERROR, logger="bulk_tracker"),
        transaction.atomic(),
    ):
        Author.objects.update(name="Bea", tracking_info_=TrackingInfo(is_robust=True))
    assert after == [1]
    assert len(captured.calls) == 1
    assert len(failures_logged(caplog)) == 1


# --- the tracking state a delivery runs in ------------------------------------------------------------


def restock(sender, objects, **kwargs):
    """A receiver that writes to another tracked model."""
    Book.objects.filter(author__in=[o.instance.pk for o in objects]).update(stock=7)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", ["update", "delete"])
def test_a_commit_inside_suspended_delivers_what_was_queued_before_with_tracking_on(capture_signals, write):
    """The transaction is opened by code around the suspended block (a middleware, a fixture): the
    writes queued before the block are delivered at its commit, and their receivers' own writes are
    tracked, with the TrackingInfo of the write that queued them."""
    ann = Author.objects.create(name="Ann")
    Book.objects.create(title="Dune", author=ann)
    Book.objects.create(title="Emma")
    info = TrackingInfo(comment="import")
    if write == "update":
        receiver = connected(post_update_signal, restock, Author)

        def act():
            Author.objects.update(name="Bea")
    else:
        receiver = connected(post_delete_signal, lambda **kw: Book.objects.filter(title="Emma").update(stock=7), Author)

        def act():
            Author.objects.filter(pk=ann.pk).delete()

    with receiver, capture_signals() as captured:
        block = transaction.atomic()
        block.__enter__()
        with tracking(info):
            act()
        with suspended():
            block.__exit__(None, None, None)  # the commit: delivers the write queued above
    stock = [c for c in captured.calls if c.sender is Book and c.kind == "update"]
    assert [[o.changed_values for o in c.objects] for c in stock] == [[{"stock": 0}]]
    assert stock[0].tracking_info is info
    assert Book.objects.filter(stock=7).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bulk", [True, False])
def test_a_related_manager_in_autocommit(capture_signals, caplog, bulk):
    """``remove()`` (bulk): one tracked update() in autocommit, so the failure is raised. ``set()`` wraps
    its writes in a transaction of its own (limit, docs/guarantees.md): the failure is logged at that
    commit, not raised. Either way the write stands and the delivery is made."""
    ann = Author.objects.create(name="Ann")
    book = Book.objects.create(title="Dune", author=ann)
    with (
        capture_signals() as captured,
        connected(post_update_signal, failing, Book),
        caplog.at_level(logging.ERROR, logger="bulk_tracker"),
    ):
        if bulk:
            with pytest.raises(BoomError):
                ann.books.remove(book)
        else:
            ann.books.set([], bulk=False)  # Django: atomic(), then remove(bulk=False): save() of each book
    assert [(c.kind, c.sender) for c in captured.calls] == [("update", Book)]
    assert len(failures_logged(caplog)) == (0 if bulk else 1)
    assert Book.objects.get().author is None
