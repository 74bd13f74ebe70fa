"""Bad input: the error Django gives for the same call, nothing written, no signal, the caller's transaction intact.

Each case runs twice: through the tracked API and through plain Django (``models.QuerySet(Model)``,
``models.Model.save``). Both must raise the same exception type with the same message, inside the
caller's ``atomic()`` block, and leave that block usable exactly as Django does (an error Django
raises before any query must not break the caller's transaction).

Cases already covered elsewhere are not repeated: unknown ``update()`` fields and sliced ``update()``
(test_update.py), ``bulk_update()`` with no fields, the pk, unknown or reverse fields, objects
without pks or with unsaved related objects (test_bulk_update.py), bad upsert options
(test_bulk_create.py) and a ``tracking_info_`` of the wrong type for most methods.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import django
import pytest
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Count, F
from django.db.transaction import TransactionManagementError

from testapp.models import Author, Book, Restaurant, Tag

pytestmark = pytest.mark.django_db


class Tracked:
    """The tracked API."""

    def qs(self, model: type[models.Model]) -> models.QuerySet[Any]:
        return model.objects.all()

    def save(self, obj: models.Model, **kwargs: Any) -> None:
        obj.save(**kwargs)

    def delete(self, obj: models.Model) -> None:
        obj.delete()


class Plain(Tracked):
    """Django alone."""

    def qs(self, model: type[models.Model]) -> models.QuerySet[Any]:
        return models.QuerySet(model)

    def save(self, obj: models.Model, **kwargs: Any) -> None:
        models.Model.save(obj, **kwargs)

    def delete(self, obj: models.Model) -> None:
        models.Model.delete(obj)


def books() -> list[Book]:
    return list(Book.objects.order_by("pk"))


def edited(**values: Any) -> list[Book]:
    objs = books()
    for obj in objs:
        for name, value in values.items():
            setattr(obj, name, value)
    return objs


def upsert_target(*names: str) -> dict[str, Any]:
    return {"unique_fields": list(names)} if connection.features.supports_update_conflicts_with_target else {}


Case = Callable[[Tracked], Any]

CASES: dict[str, Case] = {
    # update()
    "update: text into an integer": lambda w: w.qs(Book).update(stock="abc"),
    "update: text into a decimal": lambda w: w.qs(Book).update(price="cheap"),
    "update: text into a datetime": lambda w: w.qs(Book).update(published="yesterday"),
    "update: an unsaved author": lambda w: w.qs(Book).update(author=Author(name="unsaved")),
    "update: text as the author id": lambda w: w.qs(Book).update(author_id="abc"),
    "update: a reverse relation": lambda w: w.qs(Author).update(books=1),
    "update: an aggregate": lambda w: w.qs(Author).update(name=Count("books")),
    "update: after union()": lambda w: w.qs(Book).filter(stock=1).union(w.qs(Book).filter(stock=0)).update(stock=5),
    # bulk_update()
    "bulk_update: text into an integer": lambda w: w.qs(Book).bulk_update(edited(stock="abc"), ["stock"]),
    "bulk_update: text as the author id": lambda w: w.qs(Book).bulk_update(edited(author_id="abc"), ["author"]),
    "bulk_update: the pk by its alias": lambda w: w.qs(Book).bulk_update(edited(stock=9), ["pk"]),
    "bulk_update: fields as one string": lambda w: w.qs(Book).bulk_update(edited(stock=9), "stock"),
    "bulk_update: batch_size 0": lambda w: w.qs(Book).bulk_update(edited(stock=9), ["stock"], batch_size=0),
    "bulk_update: negative batch_size": lambda w: w.qs(Book).bulk_update(edited(stock=9), ["stock"], batch_size=-1),
    "bulk_update: on a sliced queryset": lambda w: w.qs(Book)[:2].bulk_update(edited(stock=9), ["stock"]),
    "bulk_update: a reverse relation": lambda w: w.qs(Author).bulk_update(list(Author.objects.all()), ["reviews"]),
    # bulk_create()
    "bulk_create: text into an integer": lambda w: w.qs(Book).bulk_create([Book(title="n", stock="abc")]),
    "bulk_create: a multi-table child": lambda w: w.qs(Restaurant).bulk_create([Restaurant(name="r")]),
    "bulk_create: batch_size 0": lambda w: w.qs(Book).bulk_create([Book(title="n")], batch_size=0),
    "bulk_create: an unsaved author": lambda w: w.qs(Book).bulk_create([Book(title="n", author=Author(name="u"))]),
    "bulk_create: the pk in update_fields": lambda w: w.qs(Tag).bulk_create(
        [Tag(name="t")], update_conflicts=True, update_fields=["id"], **upsert_target("name")
    ),
    "bulk_create: an unknown unique field": lambda w: w.qs(Tag).bulk_create(
        [Tag(name="t")], update_conflicts=True, update_fields=["color"], unique_fields=["nonsense"]
    ),
    "bulk_create: unique_fields with ignore_conflicts only": lambda w: w.qs(Tag).bulk_create(
        [Tag(name="t")], update_fields=["color"], unique_fields=["name"]
    ),
    "bulk_create: text into an integer, upserted": lambda w: w.qs(Tag).bulk_create(
        [Tag(name="t", uses="many")], update_conflicts=True, update_fields=["uses"], **upsert_target("name")
    ),
    # delete()
    "delete: sliced": lambda w: w.qs(Book)[:1].delete(),
    "delete: after distinct(fields)": lambda w: w.qs(Book).distinct("title").delete(),
    "delete: after values()": lambda w: w.qs(Book).values("title").delete(),
    "delete: after union()": lambda w: w.qs(Book).filter(stock=1).union(w.qs(Book).filter(stock=0)).delete(),
    "delete: an instance without pk": lambda w: w.delete(Book(title="never saved")),
    # save(), create(), get_or_create(), update_or_create()
    "save: text into an integer": lambda w: w.save(edited(stock="abc")[0]),
    "save: unknown update_fields": lambda w: w.save(edited(stock=9)[0], update_fields=["nonsense"]),
    "save: force_insert and force_update": lambda w: w.save(edited(stock=9)[0], force_insert=True, force_update=True),
    "save: force_update without a pk": lambda w: w.save(Book(title="new"), force_update=True),
    "create: an unknown field": lambda w: w.qs(Book).create(title="n", nonsense=1),
    "get_or_create: an unknown field": lambda w: w.qs(Book).get_or_create(nonsense=1),
    "update_or_create: an unknown default": lambda w: w.qs(Book).update_or_create(
        title="new", defaults={"nonsense": 1}
    ),
    "update: after distinct(fields), refused from Django 6.1": lambda w: w.qs(Book).distinct("title").update(stock=5),
}


class Rollback(Exception):  # noqa: N818 - control flow
    pass


def attempt(case: Case, writer: Tracked) -> tuple[type[BaseException] | None, str, bool]:
    """Run ``case`` in the caller's atomic block: (error type, message, block still usable)."""
    error: BaseException | None = None
    usable = True
    try:
        with transaction.atomic():
            try:
                case(writer)
            except Exception as raised:
                error = raised
            try:
                models.QuerySet(Book).count()
            except (TransactionManagementError, DatabaseError):  # marked for rollback, or aborted (PostgreSQL)
                usable = False
            raise Rollback
    except Rollback:
        pass
    return (type(error) if error else None), str(error or ""), usable


def tables() -> list[Any]:
    return [list(model._base_manager.order_by("pk").values_list()) for model in (Author, Book, Tag, Restaurant)]


@pytest.fixture
def shelf():
    ann = Author.objects.create(name="Ann")
    Book.objects.create(title="a", price=Decimal("5.00"), stock=1, author=ann)
    Book.objects.create(title="b", price=Decimal("7.00"), stock=0, author=ann)
    Book.objects.create(title="c", price=Decimal("9.00"), stock=3)
    Tag.objects.create(name="t", uses=1)


MARKS = {
    "update: after distinct(fields), refused from Django 6.1": pytest.mark.skipif(
        django.VERSION < (6, 1), reason="Django writes it: test_update_after_distinct_fields_is_reported"
    ),
    "update: a reverse relation": pytest.mark.skipif(
        django.VERSION < (5, 0), reason="Django 4.2 itself fails inside its compiler (AttributeError)"
    ),
}


@pytest.mark.parametrize("case", [pytest.param(c, marks=MARKS.get(c, ())) for c in CASES], ids=list(CASES))
def test_bad_input_is_djangos_error_and_writes_and_sends_nothing(shelf, received, case):
    django = attempt(CASES[case], Plain())
    assert django[0] is not None, "the case must be one Django refuses"
    before = tables()
    with received.committing():
        ours = attempt(CASES[case], Tracked())
    assert ours == django
    assert tables() == before
    assert received.calls == []


def test_bulk_create_tracking_info_of_the_wrong_type_is_refused(shelf, received):
    for options in ({}, {"ignore_conflicts": True}):
        with received.committing(), pytest.raises(TypeError, match="TrackingInfo"):
            Tag.objects.bulk_create([Tag(name="n")], tracking_info_={"user": "u"}, **options)
    assert received.calls == []
    assert list(Tag.objects.values_list("name", flat=True)) == ["t"]


# Calls Django accepts: written, so they must be reported. Found while building the cases above.


def test_update_of_the_primary_key_reports_the_moved_rows(shelf, received):
    top = Book.objects.order_by("-pk").values_list("pk", flat=True)[0]
    with received.committing():
        Book.objects.filter(title="c").update(id=F("id") + top + 100, stock=4)
    moved = Book.objects.get(title="c")
    call = received.only("update")
    assert [(o.instance.pk, o.instance.stock, o.changed_values) for o in call.objects] == [
        (moved.pk, 4, {"id": moved.pk - top - 100, "stock": 3})
    ]


def test_update_moving_every_primary_key_reports_each_row_once_with_its_old_pk(
    shelf, received, django_assert_num_queries
):
    before = dict(Book.objects.values_list("title", "pk"))
    top = max(before.values())
    statements = 3 if connection.vendor == "mysql" else 2  # the locked read, then the UPDATE (+ re-read)
    with received.committing(), django_assert_num_queries(statements):
        assert Book.objects.update(id=F("id") + top) == len(before)
    call = received.only("update")
    assert [(o.instance.title, o.instance.pk, o.changed_values) for o in call.objects] == [
        (title, pk + top, {"id": pk}) for title, pk in sorted(before.items(), key=lambda item: item[1])
    ]


def test_update_of_the_primary_key_to_a_value_reports_the_row_under_its_new_pk(shelf, received):
    old_pk = Book.objects.get(title="a").pk
    new_pk = Book.objects.order_by("-pk").values_list("pk", flat=True)[0] + 50
    with received.committing():
        Book.objects.filter(pk=old_pk).update(id=new_pk)
    (modified,) = received.only("update").objects
    assert (modified.instance.pk, modified.instance.title, modified.changed_values) == (
        new_pk,
        "a",
        {"id": old_pk},
    )
    assert not Book.objects.filter(pk=old_pk).exists()


@pytest.mark.skipif(django.VERSION >= (6, 1), reason="Django 6.1 refuses it (a bad-input case above)")
def test_update_after_distinct_fields_is_reported(shelf, received):
    with received.committing():
        count = Book.objects.distinct("title").update(stock=5)
    assert count == 3
    assert sorted(o.changed_values["stock"] for o in received.only("update").objects) == [0, 1, 3]


def test_update_after_values_and_annotate_is_reported(shelf, received):
    with received.committing():
        count = Book.objects.values("author").annotate(n=Count("pk")).update(stock=5)
    assert count == 3
    assert sorted(o.changed_values["stock"] for o in received.only("update").objects) == [0, 1, 3]
