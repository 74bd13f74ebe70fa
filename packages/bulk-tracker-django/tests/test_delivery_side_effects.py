"""Delivery side effects: what our receivers and deliveries must not do to the application around them.

* inside ``suspended()`` a connected delete receiver costs nothing: Django's own fast deletes, statement
  for statement the same delete with no receiver;
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from helpers import connected

from bulk_tracker import suspended
from bulk_tracker.signals import post_delete_signal, post_update_signal
from testapp.models import Author, Book, Critic, Review

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
    assert len(tracked[0]) > len(expected[0])  # the receiver is connected: outside suspended() rows are loaded
