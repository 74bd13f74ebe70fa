"""Deletes: one post_delete_signal per model and operation, CASCADE included; SET_* as updates."""

import django
import pytest
from asgiref.sync import async_to_sync
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.db.models.signals import post_delete as django_post_delete
from django.test.utils import CaptureQueriesContext
from helpers import connected

from bulk_tracker import TrackingInfo, tracking
from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.signals import post_update_signal
from testapp.models import Author, Book, Clerk, Crate, Critic, Depot, Loan, Post, Publisher, Review

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf():
    ann, bob = Author.objects.create(name="Ann"), Author.objects.create(name="Bob")
    a1 = Book.objects.create(title="a1", author=ann, stock=1)
    a2 = Book.objects.create(title="a2", author=ann, stock=2)
    b1 = Book.objects.create(title="b1", author=bob, stock=3)
    reviews = [
        Review.objects.create(book=a1, author=ann, text="own"),  # reachable twice from Ann
        Review.objects.create(book=a2, author=bob, text="bob on a2"),
        Review.objects.create(book=b1, text="anonymous on b1"),
    ]
    return {"ann": ann, "bob": bob, "books": [a1, a2, b1], "reviews": reviews}


def summary(calls):
    return [(c.kind, c.sender.__name__, [o.instance.pk for o in c.objects]) for c in calls]


def test_instance_delete_reports_the_row_with_its_pk_and_fields(shelf, received):
    book = shelf["books"][2]
    book_pk, review_pk = book.pk, shelf["reviews"][2].pk
    with received.committing():
        result = book.delete()
    assert result == (2, {"testapp.Review": 1, "testapp.Book": 1})
    assert summary(received.calls) == [("delete", "Review", [review_pk]), ("delete", "Book", [book_pk])]
    [deleted] = received.calls[1].objects
    assert deleted.changed_values == {}
    assert (deleted.instance.pk, deleted.instance.title, deleted.instance.stock) == (book_pk, "b1", 3)
    assert book.pk is None  # Django's own contract for the caller's instance is kept


def test_queryset_delete_is_one_signal_per_model(shelf, received):
    books = shelf["books"]
    with received.committing():
        result = Book.objects.filter(stock__lte=2).delete()
    assert result == (4, {"testapp.Review": 2, "testapp.Book": 2})
    assert summary(received.calls) == [
        ("delete", "Review", [shelf["reviews"][0].pk, shelf["reviews"][1].pk]),
        ("delete", "Book", [books[0].pk, books[1].pk]),
    ]
    assert [o.instance.title for o in received.calls[1].objects] == ["a1", "a2"]


def test_multi_level_and_diamond_cascade_report_each_row_once_in_djangos_order(shelf, received):
    django_order = []

    def record(sender, **kwargs):
        if sender.__name__ not in django_order:
            django_order.append(sender.__name__)

    with connected(django_post_delete, record), received.committing():
        Author.objects.filter(pk=shelf["ann"].pk).delete()
    ann_books = [b.pk for b in shelf["books"][:2]]
    assert sorted(summary(received.calls)) == sorted(
        [
            ("delete", "Review", [shelf["reviews"][0].pk, shelf["reviews"][1].pk]),
            ("delete", "Book", ann_books),
            ("delete", "Author", [shelf["ann"].pk]),
        ]
    )
    assert [c.sender.__name__ for c in received.calls] == django_order


def test_set_null_set_default_and_set_are_reported_as_one_update_per_model(shelf, received):
    anonymous = Critic.objects.create(name="anonymous")
    harsh = Critic.objects.create(name="harsh")
    first, second, third = shelf["reviews"]
    Review.objects.filter(pk=first.pk).update(critic=harsh, second_critic=harsh)
    Review.objects.filter(pk=second.pk).update(fallback_critic=harsh)
    harsh_pk = harsh.pk
    with received.committing():
        assert harsh.delete() == (1, {"testapp.Critic": 1})
    assert summary(received.calls) == [("update", "Review", [first.pk, second.pk]), ("delete", "Critic", [harsh_pk])]
    updated = received.calls[0].objects
    assert [o.changed_values for o in updated] == [
        {"critic_id": harsh_pk, "second_critic_id": harsh_pk},
        {"fallback_critic_id": harsh_pk},
    ]
    assert (updated[0].instance.critic_id, updated[0].instance.second_critic_id) == (None, None)
    assert updated[1].instance.fallback_critic_id == anonymous.pk
    assert updated[1].instance.text == "bob on a2"  # loaded whole, not just the key
    assert Review.objects.get(pk=second.pk).fallback_critic_id == anonymous.pk
    assert third.pk not in [o.instance.pk for o in updated]


class Rollback(Exception):  # noqa: N818 - rolls the rehearsal back
    pass


def delete_outcome(instance):
    """What ``instance.delete()`` returns, or the type of what it raises (in a savepoint rolled back)."""
    try:
        with transaction.atomic():
            result = ("returned", type(instance).objects.get(pk=instance.pk).delete())
            raise Rollback
    except Rollback:
        return result
    except Exception as error:
        return ("raised", type(error))


def test_a_set_callable_with_nothing_to_set_is_called_as_django_calls_it():
    """Django 4.2 calls ``SET(callable)`` even when no row refers to the deleted one (5.0+ does not):
    with a receiver the same call, so the same DoesNotExist from ``anonymous_critic()`` (no such critic)."""
    critic = Critic.objects.create(name="harsh")  # no review at all, and no "anonymous" critic
    plain = delete_outcome(critic)  # no receiver: Django's own on_delete
    calls = []
    with connected(post_update_signal, lambda **kwargs: calls.append(kwargs), Review):
        tracked = delete_outcome(critic)
    assert tracked == plain
    if django.VERSION < (5, 0):
        assert plain == ("raised", Critic.DoesNotExist)
    else:
        assert plain == ("returned", (1, {"testapp.Critic": 1}))
    assert calls == []


def test_a_row_set_null_and_deleted_by_the_same_delete_is_reported_deleted_only(received):
    """Found by the oracle: the crate lost its clerk (SET_NULL) and its depot (CASCADE) at once."""
    depot, other = Depot.objects.create(name="d"), Depot.objects.create(name="e")
    clerk = Clerk.objects.create(name="ann", depot=depot)
    doomed = Crate.objects.create(code="in d", depot=depot, clerk=clerk)
    kept = Crate.objects.create(code="in e", depot=other, clerk=clerk)
    clerk_pk = clerk.pk
    with received.committing():
        depot.delete()
    updated = received.captured.updated(Crate)
    assert [(o.instance.pk, o.changed_values) for o in updated] == [(kept.pk, {"clerk_id": clerk_pk})]
    assert [(o.instance.pk, o.instance.clerk_id) for o in received.captured.deleted(Crate)] == [(doomed.pk, clerk_pk)]
    assert list(Crate.objects.values_list("pk", "clerk_id")) == [(kept.pk, None)]


def test_protect_deletes_nothing_and_sends_nothing(shelf, received):
    Loan.objects.create(book=shelf["books"][0])
    with received.committing(), pytest.raises(ProtectedError):
        Author.objects.filter(pk=shelf["ann"].pk).delete()
    assert received.calls == []
    assert Book.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_delete_in_a_rolled_back_savepoint_sends_nothing(received):
    author = Author.objects.create(name="kept")
    doomed = Author.objects.create(name="doomed")  # its delete is rolled back, so it stays

    class RollbackError(Exception):
        pass

    with received.committing(), transaction.atomic():
        author.delete()
        try:
            with transaction.atomic():
                doomed.delete()
                raise RollbackError
        except RollbackError:
            pass
    assert [(c.kind, [o.instance.name for o in c.objects]) for c in received.calls] == [("delete", ["kept"])]
    assert list(Author.objects.values_list("name", flat=True)) == ["doomed"]


@pytest.mark.django_db(transaction=True)
def test_a_queryset_deleted_again_after_a_rollback_is_reported(received):
    """Found by the oracle: the rolled-back delete left its run behind and the second one joined it, unsent."""
    Author.objects.create(name="a")
    doomed = Author.objects.filter(name="a")

    def delete_then_roll_back() -> None:
        with transaction.atomic():
            doomed.delete()
            raise ZeroDivisionError

    with received.committing(), pytest.raises(ZeroDivisionError):
        delete_then_roll_back()
    assert received.calls == []
    with received.committing():
        doomed.delete()
    assert [o.instance.name for o in received.only("delete").objects] == ["a"]


@pytest.mark.django_db(transaction=True)
def test_two_deletes_of_one_queryset_in_one_transaction_are_two_signals(received):
    Author.objects.create(name="a")
    Author.objects.create(name="b")
    names = Author.objects.filter(name__in=["a", "b"])
    with received.committing(), transaction.atomic():
        Author.objects.filter(name="a").delete()
        names.delete()
        Author.objects.create(name="b")
        names.delete()
    assert [[o.instance.name for o in c.objects] for c in received.calls if c.kind == "delete"] == [["a"], ["b"], ["b"]]


@pytest.mark.django_db(databases=["default", "other"])
def test_delete_through_another_database(received):
    far = Author.objects.using("other").create(name="far")
    Book.objects.using("other").create(title="t", author=far)
    with received.committing():
        Author.objects.using("other").all().delete()
    assert sorted((c.kind, c.sender.__name__, c.using, len(c.objects)) for c in received.calls) == [
        ("delete", "Author", "other", 1),
        ("delete", "Book", "other", 1),
    ]
    assert {c.objects[0].instance._state.db for c in received.calls} == {"other"}


def test_untracked_parent_still_reports_tracked_children(received):
    plain = Publisher.objects.create(name="plain")
    other = Publisher.objects.create(name="other")
    posts = [Post.objects.create(publisher=plain, title=t) for t in ("x", "y")]
    Post.objects.create(publisher=other, title="z")
    with received.committing():
        Publisher.objects.filter(pk=plain.pk).delete()
        other.delete()
    assert [(c.kind, c.sender.__name__, len(c.objects)) for c in received.calls] == [
        ("delete", "Post", 2),
        ("delete", "Post", 1),
    ]
    assert received.calls[0].objects == [ModifiedObject(p) for p in posts]
    assert [o.instance.title for o in received.calls[0].objects] == ["x", "y"]


def test_tracking_info_reaches_every_model_of_the_delete(shelf, received):
    info = TrackingInfo(comment="cleanup")
    with received.committing():
        Book.objects.filter(pk=shelf["books"][2].pk).delete(tracking_info_=info)
        with tracking(comment="context"):
            shelf["bob"].delete()
    assert [(c.sender.__name__, c.tracking_info.comment) for c in received.calls[:2]] == [
        ("Review", "cleanup"),
        ("Book", "cleanup"),
    ]
    assert {(c.sender.__name__, c.tracking_info.comment) for c in received.calls[2:]} == {
        ("Review", "context"),
        ("Author", "context"),
    }
    assert len(received.calls) == 4


def test_wrong_tracking_info_is_refused_before_anything(shelf, received):
    with CaptureQueriesContext(connection) as queries, pytest.raises(TypeError, match="TrackingInfo"):
        Book.objects.all().delete(tracking_info_="me")
    assert len(queries) == 0
    assert Book.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_adelete(received):
    author = Author.objects.create(name="gone")
    Author.objects.create(name="also gone")
    info = TrackingInfo(comment="async")
    with received.committing():
        async_to_sync(author.adelete)(tracking_info_=info)
        async_to_sync(Author.objects.all().adelete)(tracking_info_=info)
    assert [(c.kind, len(c.objects), c.tracking_info) for c in received.calls] == [
        ("delete", 1, info),
        ("delete", 1, info),
    ]
