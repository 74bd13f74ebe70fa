"""Loading tracked rows (loading.py): the instance built directly equals the one Django and model_utils build.

Each loaded instance is compared with ``Model.from_db()`` as Django defines it (``Model.__init__``
through model_utils' wrappers) for the same row: the attributes, the state, and each tracker's
fields and saved values. Runs on every Django of the matrix, so a change in how Django builds
instances shows up here.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import models
from django.db.models import DEFERRED
from django.db.models.signals import post_init
from django.utils import timezone
from helpers import connected
from model_utils.tracker import FieldInstanceTracker

from bulk_tracker import loading
from testapp.models import Author, Book, Crate, Depot, Place, Restaurant, Tag

pytestmark = pytest.mark.django_db


def built_by_django(instance: models.Model) -> models.Model:
    """The same row loaded through Django's own ``from_db()``."""
    model = type(instance)
    attnames = [field.attname for field in model._meta.concrete_fields]
    (row,) = model._base_manager.filter(pk=instance.pk).values_list(*attnames)
    kwargs = {"fetch_mode": instance._state.fetch_mode} if "fetch_mode" in vars(instance._state) else {}  # 6.1
    return models.Model.from_db.__func__(model, instance._state.db, attnames, row, **kwargs)  # type: ignore[attr-defined]


def assert_same(fast: models.Model, slow: models.Model) -> None:
    assert type(fast) is type(slow)
    assert fast.__dict__.keys() == slow.__dict__.keys()
    for name, value in slow.__dict__.items():
        mine = fast.__dict__[name]
        if isinstance(value, FieldInstanceTracker):
            assert type(mine) is type(value)
            assert mine.instance is fast
            assert (mine.fields, mine.field_map, mine.saved_data) == (value.fields, value.field_map, value.saved_data)
            assert mine.changed() == value.changed() == {}
            for field, saved in mine.saved_data.items():  # mutable values are copies, as model_utils keeps them
                if isinstance(saved, (dict, list)):
                    assert saved is not fast.__dict__[field]
        elif name == "_state":
            assert state(mine) == state(value)
            assert (mine.adding, mine.db) == (False, value.db)
        else:
            assert (name, mine) == (name, value)


def state(model_state: Any) -> dict[str, Any]:
    """The state's attributes; an empty ``fields_cache`` is made on first use, so it may be there or not."""
    return {name: value for name, value in vars(model_state).items() if (name, value) != ("fields_cache", {})}


@pytest.fixture
def rows() -> list[models.Model]:
    ann = Author.objects.create(name="Ann", email=None)
    depot = Depot.objects.create(name="d", size=2)
    Book.objects.create(
        title="a",
        price=Decimal("5.10"),
        rating=0.5,
        author=ann,
        data={"tags": ["x"], "n": 1},
        published=timezone.make_aware(datetime.datetime(2024, 2, 3, 4, 5, 6)),
    )
    Book.objects.create(title="b")
    Tag.objects.create(name="t")
    Restaurant.objects.create(name="r", serves=3)
    Crate.objects.create(depot=depot, code="c", data=[1, {"a": None}])
    models_ = (Author, Book, Tag, Place, Restaurant, Crate, Depot)
    return [obj for model in models_ for obj in model.objects.order_by("pk")]


def test_every_loaded_row_equals_the_instance_django_builds(rows):
    assert len(rows) == 8
    for fast in rows:
        assert loading._plans[type(fast)] is not None, type(fast)  # built directly
        assert_same(fast, built_by_django(fast))


def test_a_loaded_instance_tracks_changes_and_saves_like_one_django_built(rows, received):
    book = Book.objects.get(title="a")
    book.data["tags"].append("y")  # in place: the tracker's copy must not change with it
    book.stock = 7
    assert book.tracker.changed() == {"data": {"tags": ["x"], "n": 1}, "stock": 0}
    with received.committing():
        book.save()
    (modified,) = received.only("update").objects
    assert modified.changed_values == {"data": {"tags": ["x"], "n": 1}, "stock": 0}


def test_deferred_fields_and_post_init_receivers_are_left_to_django(rows):
    only = Book.objects.only("title").get(title="a")
    assert only.get_deferred_fields() == {"price", "stock", "rating", "author_id", "data", "published"}
    assert only.tracker.saved_data == {"id": only.pk, "title": "a"}
    seen: list[Any] = []

    def receiver(sender: type, instance: models.Model, **kwargs: Any) -> None:
        seen.append(instance)

    with connected(post_init, receiver, Book):
        books = list(Book.objects.order_by("pk"))
    assert seen == books
    assert_same(books[0], built_by_django(books[0]))


def test_a_full_row_with_deferred_values_is_left_to_django(rows):
    attnames = [field.attname for field in Tag._meta.concrete_fields]
    tag = Tag.objects.get()
    values = [DEFERRED if name == "color" else getattr(tag, name) for name in attnames]
    loaded = Tag.from_db("default", attnames, values)
    assert loaded.get_deferred_fields() == {"color"}
    assert loaded.color == "grey"  # loaded from the database on first access, as Django does


def test_a_model_whose_loading_is_customised_is_left_to_django():
    class Shouting(models.Model):
        name = models.CharField(max_length=10)

        class Meta:
            app_label = "testapp"
            managed = False

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.loud = True

    assert loading._plan(Shouting) is None
    assert loading._plan(Author) is not None
