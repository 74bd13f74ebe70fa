"""Delivery after commit, nothing on rollback, robust and non-robust receivers."""

import logging

import pytest
from django.db import transaction
from helpers import connected

from bulk_tracker import TrackingInfo
from bulk_tracker.signals import post_update_signal
from testapp.models import Author

pytestmark = pytest.mark.django_db(transaction=True)


class BoomError(Exception):
    pass


@pytest.fixture
def author():
    return Author.objects.create(name="before")


def test_delivered_after_the_outer_block_commits(author, received):
    with received.committing(), transaction.atomic():
        with transaction.atomic():
            Author.objects.update(name="after")
        assert received.calls == []
    assert received.only("update").objects[0].changed_values == {"name": "before"}


def test_rollback_delivers_nothing(author, received):
    def update_then_fail() -> None:
        with transaction.atomic():
            Author.objects.update(name="after")
            raise BoomError

    with received.committing(), pytest.raises(BoomError):
        update_then_fail()
    assert received.calls == []
    assert Author.objects.get().name == "before"


def test_rolled_back_savepoint_delivers_nothing_of_its_own(author, received):
    other = Author.objects.create(name="other")
    with received.committing(), transaction.atomic():
        Author.objects.filter(pk=other.pk).update(name="kept")
        try:
            with transaction.atomic():
                Author.objects.filter(pk=author.pk).update(name="dropped")
                raise BoomError
        except BoomError:
            pass
    call = received.only("update")
    assert [(o.instance.pk, o.changed_values) for o in call.objects] == [(other.pk, {"name": "other"})]


def test_autocommit_delivers_immediately(author, received):
    with received.committing():
        Author.objects.update(name="after")
        assert len(received.of("update")) == 1


def test_robust_mode_logs_failures_runs_every_receiver_and_keeps_the_write(author, received, caplog):
    def failing(**kwargs):
        raise BoomError("receiver failed")

    with (
        connected(post_update_signal, failing, Author),
        received.committing(),
        caplog.at_level(logging.ERROR, logger="bulk_tracker"),
    ):
        Author.objects.update(name="after", tracking_info_=TrackingInfo(is_robust=True))
    assert len(received.of("update")) == 1
    assert Author.objects.get().name == "after"
    [record] = [r for r in caplog.records if r.name == "bulk_tracker"]
    assert record.exc_info[0] is BoomError
    assert "testapp.Author" in record.getMessage()


def test_non_robust_failure_reaches_the_caller_after_commit(author):
    def failing(**kwargs):
        raise BoomError("receiver failed")

    with connected(post_update_signal, failing, Author), pytest.raises(BoomError):
        Author.objects.update(name="after")
    assert Author.objects.get().name == "after"
