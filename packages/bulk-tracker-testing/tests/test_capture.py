from contextlib import suppress
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import TestCase
from helpers import connected

import bulk_tracker_testing
from bulk_tracker.helper_objects import ModifiedObject, TrackingInfo
from bulk_tracker.signals import post_create_signal, post_update_signal
from testapp.models import Author, Book


@pytest.fixture
def author() -> Author:
    return Author.objects.create(name="Ann")


class RollbackError(Exception):
    pass


def write_and_roll_back(write) -> None:
    """Run ``write()`` in an atomic block that rolls back."""
    with suppress(RollbackError), transaction.atomic():
        write()
        raise RollbackError


@pytest.mark.django_db
def test_test_transaction_delivers_at_the_end_of_the_block(capture_signals, author):
    with capture_signals() as captured:
        Author.objects.update(name="Bea")
        assert captured.calls == []  # still waiting for the commit that a django_db test never makes
    assert [(c.kind, c.sender) for c in captured.calls] == [("update", Author)]


@pytest.mark.django_db
def test_writes_before_the_block_are_not_captured(capture_signals, author):
    Author.objects.update(name="Bea")  # its on_commit callback is pending, and stays so
    with capture_signals() as captured:
        Author.objects.update(name="Cy")
    captured.assert_updated(Author, calls=1, changed_values={author.pk: {"name": "Bea"}})


@pytest.mark.django_db
def test_each_block_sees_each_signal_once(capture_signals, author):
    with capture_signals() as first:
        Author.objects.update(name="Bea")
    with capture_signals() as second:
        Author.objects.update(name="Cy")
    assert [c.objects[0].changed_values for c in first.calls] == [{"name": "Ann"}]
    assert [c.objects[0].changed_values for c in second.calls] == [{"name": "Bea"}]


@pytest.mark.django_db
def test_nested_blocks_each_see_each_signal_once(capture_signals, author):
    with capture_signals() as outer:
        with capture_signals() as inner:
            Author.objects.update(name="Bea")
        assert len(outer) == 1  # delivered when the inner block ended, and recorded by both
        Book.objects.create(title="Dune", author=author)
    assert [(c.kind, c.sender) for c in inner.calls] == [("update", Author)]
    assert [(c.kind, c.sender) for c in outer.calls] == [("update", Author), ("create", Book)]


@pytest.mark.django_db
def test_a_delivery_djangos_capture_ran_in_the_block_is_not_run_again(
    capture_signals, django_capture_on_commit_callbacks
):
    # Django's capture runs the callbacks and leaves them pending: the block's end skips the delivery it ran.
    calls = []
    with (
        connected(post_create_signal, lambda **kwargs: calls.append(kwargs)),
        capture_signals() as captured,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        Author.objects.create(name="Bea")
    assert len(callbacks) == 1
    assert len(calls) == 1  # the receiver itself was called once
    captured.assert_created(Author, 1, calls=1)


@pytest.mark.django_db(transaction=True)
def test_a_doubled_send_is_recorded_twice(capture_signals, author):
    objects = [ModifiedObject(author)]
    with capture_signals() as captured:
        for _ in range(2):  # the same delivery made twice, the very same objects list: a bug to be seen
            post_create_signal.send(sender=Author, objects=objects, tracking_info_=None, using="default")
    assert [(c.kind, c.sender, c.objects) for c in captured.calls] == [("create", Author, objects)] * 2


@pytest.mark.django_db
def test_a_delivery_run_twice_by_two_django_captures_is_recorded_twice(
    capture_signals, django_capture_on_commit_callbacks
):
    """Two nested Django captures run a callback twice: the capture shows it, it does not hide it."""
    with (
        capture_signals() as captured,
        django_capture_on_commit_callbacks(execute=True),
        django_capture_on_commit_callbacks(execute=True),  # nested in the first
    ):
        Author.objects.create(name="Bea")
    assert [c.kind for c in captured.calls] == ["create", "create"]
    assert captured.calls[0].objects is captured.calls[1].objects


@pytest.mark.django_db
def test_savepoints_in_a_test_transaction(capture_signals, author):
    with capture_signals() as captured:
        with transaction.atomic():
            Author.objects.update(name="Bea")
        write_and_roll_back(lambda: Author.objects.create(name="Rolled back"))
    assert [(c.kind, c.sender) for c in captured.calls] == [("update", Author)]


@pytest.mark.django_db(transaction=True)
def test_autocommit_delivers_at_once(capture_signals, author):
    with capture_signals() as captured:
        Author.objects.update(name="Bea")
        assert len(captured) == 1


@pytest.mark.django_db(transaction=True)
def test_atomic_delivers_at_commit(capture_signals, author):
    with capture_signals() as captured:
        with transaction.atomic():
            Author.objects.update(name="Bea")
            Book.objects.create(title="Dune", author=author)
            assert captured.calls == []
        assert [(c.kind, c.sender) for c in captured.calls] == [("update", Author), ("create", Book)]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_atomic_delivers_nothing(capture_signals, author):
    with capture_signals() as captured:
        write_and_roll_back(lambda: Author.objects.update(name="Bea"))
    captured.assert_nothing_sent()
    assert Author.objects.get().name == "Ann"


@pytest.mark.django_db(transaction=True)
def test_nested_blocks_with_real_commits(capture_signals, author):
    with capture_signals() as outer:
        with capture_signals() as inner, transaction.atomic():
            Author.objects.update(name="Bea")
        Author.objects.update(name="Cy")
    assert len(inner) == 1
    assert [c.objects[0].changed_values for c in outer.calls] == [{"name": "Ann"}, {"name": "Bea"}]


@pytest.mark.django_db
def test_only_the_given_signals(capture_signals, author):
    with capture_signals(post_create_signal, post_update_signal) as captured:
        Book.objects.create(title="Dune", author=author)
        Author.objects.update(name="Bea")
        author.delete()
    assert [c.kind for c in captured.calls] == ["create", "update"]


@pytest.mark.django_db
def test_only_the_given_senders(capture_signals, author):
    with capture_signals(senders=[Book]) as captured:
        Book.objects.create(title="Dune", author=author)
        author.delete()  # cascades to the book
    assert [(c.kind, c.sender) for c in captured.calls] == [("create", Book), ("delete", Book)]


@pytest.mark.django_db(databases=["default", "other"])
@pytest.mark.parametrize("using", ["other", ["other"]])
def test_only_the_given_databases(capture_signals, using):
    with capture_signals(using=using) as captured:
        Author.objects.create(name="Ann")
        Author.objects.using("other").create(name="Bea")
    assert [(c.using, c.objects[0].instance.name) for c in captured.calls] == [("other", "Bea")]


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_only_the_given_databases_with_real_commits(capture_signals):
    with capture_signals(using="other") as captured:
        Author.objects.create(name="Ann")
        Author.objects.using("other").create(name="Bea")
    assert [(c.using, c.objects[0].instance.name) for c in captured.calls] == [("other", "Bea")]


@pytest.mark.django_db
def test_signal_call_fields(capture_signals, author):
    book = Book.objects.create(title="Dune", price=Decimal("5.00"), author=author)
    info = TrackingInfo(comment="price rise")
    with capture_signals() as captured:
        Book.objects.filter(pk=book.pk).update(price=Decimal("7.50"), tracking_info_=info)
    [call] = captured.calls
    assert (call.kind, call.sender, call.tracking_info, call.using) == ("update", Book, info, "default")
    [obj] = call.objects
    assert isinstance(obj, ModifiedObject)
    assert (obj.instance.pk, obj.instance.price, obj.changed_values) == (
        book.pk,
        Decimal("7.50"),
        {"price": Decimal("5.00")},
    )


@pytest.mark.django_db
def test_calls_are_in_order_and_accessors_flatten_them(capture_signals, author):
    with capture_signals() as captured:
        dune, emma = Book.objects.bulk_create([Book(title="Dune", author=author), Book(title="Emma", author=author)])
        Book.objects.filter(pk=dune.pk).update(stock=1)
        Book.objects.filter(pk=emma.pk).update(stock=2)
        Book.objects.filter(pk=dune.pk).delete()
    assert [c.kind for c in captured.calls] == ["create", "update", "update", "delete"]
    assert [o.instance.title for o in captured.created(Book)] == ["Dune", "Emma"]
    assert [(o.instance.title, o.instance.stock) for o in captured.updated(Book)] == [("Dune", 1), ("Emma", 2)]
    assert [o.instance.pk for o in captured.deleted(Book)] == [dune.pk]
    assert captured.created(Author) == []
    assert captured.of("update") == captured.calls[1:3]


class CaptureInATestCase(TestCase):
    """The context manager without pytest's fixture, as unittest and Django's TestCase use it."""

    def test_update_is_captured(self):
        author = Author.objects.create(name="Ann")
        with bulk_tracker_testing.capture_signals() as captured:
            Author.objects.update(name="Bea")
        captured.assert_updated(Author, 1, changed_values={author.pk: {"name": "Ann"}})
        bulk_tracker_testing.assert_changed(captured, author, "name", "Ann", "Bea")

    def test_nothing_captured_outside_the_block(self):
        with bulk_tracker_testing.capture_signals() as captured:
            pass
        Author.objects.create(name="Ann")
        with self.captureOnCommitCallbacks(execute=True):
            Author.objects.create(name="Bea")
        bulk_tracker_testing.assert_nothing_sent(captured)
