import pytest

from bulk_tracker.helper_objects import ModifiedObject
from testapp.models import Tag

pytestmark = pytest.mark.django_db(databases=["default", "other"])


def test_reads_follow_the_alias_that_wrote_not_the_read_router(settings, received):
    settings.DATABASE_ROUTERS = ["testapp.routers.WritesToOther"]
    tag = Tag.objects.create(name="sf", color="red")
    assert tag._state.db == "other"
    Tag.objects.using("default").create(name="sf", color="blue")  # a decoy the read router would find
    with received.committing():
        assert Tag.objects.filter(name="sf").update(color="green") == 1
    call = received.only("update")
    assert call.using == "other"
    assert call.objects == [ModifiedObject(tag, {"color": "red"})]
    assert call.objects[0].instance._state.db == "other"
    assert Tag.objects.using("default").get().color == "blue"
