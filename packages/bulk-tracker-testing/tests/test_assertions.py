from decimal import Decimal

import pytest

from bulk_tracker.helper_objects import TrackingInfo
from bulk_tracker_testing import (
    CapturedSignals,
    assert_changed,
    assert_created,
    assert_deleted,
    assert_m2m_changed,
    assert_nothing_sent,
    assert_updated,
    describe,
)
from testapp.models import Author, Book

pytestmark = pytest.mark.django_db
INFO = TrackingInfo(comment="price rise")


@pytest.fixture
def rows() -> dict:
    ann = Author.objects.create(name="Ann")
    return {
        "ann": ann,
        "dune": Book.objects.create(title="Dune", price=Decimal("5.00"), author=ann),
        "emma": Book.objects.create(title="Emma", price=Decimal("8.00"), author=ann),
    }


@pytest.fixture
def captured(capture_signals, rows) -> CapturedSignals:
    """An update of Dune (with INFO), a created Author (Bea) and a deleted Book (Emma)."""
    with capture_signals() as captured:
        Book.objects.filter(pk=rows["dune"].pk).update(price=Decimal("6.00"), tracking_info_=INFO)
        rows["bea"] = Author.objects.create(name="Bea")
        Book.objects.filter(pk=rows["emma"].pk).delete()
    return captured


def failure(check, *args, **kwargs) -> str:
    """The message of the AssertionError that ``check(*args, **kwargs)`` raises."""
    with pytest.raises(AssertionError) as raised:
        check(*args, **kwargs)
    return str(raised.value)


def test_describe(captured, rows):
    assert describe(captured) == (
        "3 signal call(s):\n"
        f"  1. update testapp.Book using='default': 1 row(s) [pk={rows['dune'].pk} {{'price': Decimal('5.00')}}]"
        f" tracking_info={INFO!r}\n"
        f"  2. create testapp.Author using='default': 1 row(s) [pk={rows['bea'].pk}]\n"
        f"  3. delete testapp.Book using='default': 1 row(s) [pk={rows['emma'].pk}]"
    )
    assert describe(CapturedSignals()) == "nothing was sent"


def test_assert_created(captured, rows):
    captured.assert_created(Author, 1, pks=[rows["bea"].pk], tracking_info=None, calls=1)
    assert_created(captured, Book, 0)


def test_assert_created_fails(captured):
    message = failure(assert_created, captured, Book)
    assert message.startswith("Expected created testapp.Book rows, but no create signal was sent for testapp.Book.\n")
    assert "\nCaptured: 3 signal call(s):\n  1. update testapp.Book" in message
    assert failure(captured.assert_created, Author, 2).startswith("Expected 2 created testapp.Author row(s), got 1.")


def test_assert_updated(captured, rows):
    pk = rows["dune"].pk
    captured.assert_updated(Book, 1, pks={pk}, changed_values={pk: {"price": Decimal("5.00")}}, tracking_info=INFO)
    assert_updated(captured, Book, calls=1)
    assert_updated(captured, Author, 0)


def test_assert_updated_fails(captured, rows):
    dune, emma = rows["dune"].pk, rows["emma"].pk
    messages = [
        failure(captured.assert_updated, Book, pks=[emma]),
        failure(captured.assert_updated, Book, changed_values={dune: {"price": Decimal("4.00")}}),
        failure(captured.assert_updated, Book, tracking_info=None),
        failure(captured.assert_updated, Book, calls=2),
    ]
    assert [m.split("\n")[0] for m in messages] == [
        f"Expected updated testapp.Book pks [{emma}], got [{dune}].",
        f"Expected changed values {{{dune}: {{'price': Decimal('4.00')}}}}, "
        f"got {{{dune}: {{'price': Decimal('5.00')}}}}.",
        f"Expected tracking_info None on every update call, got [{INFO!r}].",
        "Expected 2 update signal call(s) for testapp.Book, got 1.",
    ]
    assert all(m.endswith(f"Captured: {describe(captured)}") for m in messages)


def test_assert_deleted(captured, rows):
    captured.assert_deleted(Book, 1, pks=[rows["emma"].pk])
    assert_deleted(captured, Author, 0)


def test_assert_deleted_fails(captured, rows):
    message = failure(assert_deleted, captured, Author)
    assert message == (
        "Expected deleted testapp.Author rows, but no delete signal was sent for testapp.Author.\n"
        f"Captured: {describe(captured)}"
    )
    message = failure(captured.assert_deleted, Book, pks={rows["dune"].pk})
    assert message.startswith(f"Expected deleted testapp.Book pks {{{rows['dune'].pk}}}, got {{{rows['emma'].pk}}}.")


def test_assert_nothing_sent(capture_signals, rows):
    with capture_signals() as captured:
        Book.objects.filter(pk=rows["dune"].pk).update(price=Decimal("5.00"))  # its old value: no change
    captured.assert_nothing_sent()
    assert_nothing_sent(captured)


def test_assert_nothing_sent_fails(capture_signals):
    with capture_signals() as captured:
        bea = Author.objects.create(name="Bea")
    assert failure(assert_nothing_sent, captured) == (
        "Expected no bulk_tracker signal.\n"
        f"Captured: 1 signal call(s):\n  1. create testapp.Author using='default': 1 row(s) [pk={bea.pk}]"
    )


def test_assert_changed(captured, rows):
    captured.assert_changed(rows["dune"], "price", Decimal("5.00"), Decimal("6.00"))
    assert_changed(captured, rows["dune"], "price", 5, 6)  # compared with ==


def test_assert_changed_fails(captured, rows):
    dune, ann = rows["dune"], rows["ann"]
    messages = [
        failure(captured.assert_changed, dune, "price", Decimal("5.00"), Decimal("7.00")),
        failure(captured.assert_changed, dune, "title", "Dune", "Dune 2"),
        failure(assert_changed, captured, ann, "name", "Ann", "Bea"),
    ]
    assert [m.split("\n")[0] for m in messages] == [
        f"Expected testapp.Book pk={dune.pk}.price: Decimal('5.00') -> Decimal('7.00'), "
        "got Decimal('5.00') -> Decimal('6.00').",
        f"Expected testapp.Book pk={dune.pk} to report 'title' changed, it reported [{{'price': Decimal('5.00')}}].",
        f"Expected an update of testapp.Author pk={ann.pk}, none was reported.",
    ]
    assert all("\nCaptured: 3 signal call(s):\n" in m for m in messages)


def test_assert_m2m_changed(capture_signals):
    from testapp.models import Label, Record

    a, b, c = (Label.objects.create(name=name) for name in "abc")
    record = Record.objects.create(title="r")
    record.labels.add(a, b)
    with capture_signals() as captured:
        record.labels.set([b, c])
    captured.assert_m2m_changed(record, "labels", [a, b], [c.pk, b])  # objects or pks, any order
    assert_m2m_changed(captured, record, "labels", {a.pk, b.pk}, {b.pk, c.pk})
    message = failure(captured.assert_m2m_changed, record, "labels", [a], [b, c])
    assert message.startswith(
        f"Expected testapp.Record pk={record.pk}.labels: {frozenset({a.pk})!r} -> {frozenset({b.pk, c.pk})!r}, "
        f"got {frozenset({a.pk, b.pk})!r} -> {frozenset({b.pk, c.pk})!r}."
    )
    with pytest.raises(TypeError, match=r"testapp\.Record\.title is not a many-to-many field"):
        captured.assert_m2m_changed(record, "title", [], [])
