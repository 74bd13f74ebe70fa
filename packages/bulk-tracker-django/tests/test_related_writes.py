"""Writes Django makes through a tracked model's base manager or its related managers are reported.

Each case runs the same call on a plain (untracked) twin pair, whose end state is the oracle; with
no receiver connected, the SQL is exactly the twin's.
"""

import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import models
from helpers import sql_of

from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.managers import BulkTrackerManager
from testapp.models import Album, Note, PlainAlbum, PlainShelf, PlainSticker, PlainVolume, Shelf, Sticker, Volume

pytestmark = pytest.mark.django_db

_TWIN_TABLES = {
    "testapp_plainshelf": "testapp_shelf",
    "testapp_plainvolume": "testapp_volume",
    "testapp_plainsticker": "testapp_sticker",
    "testapp_plainalbum": "testapp_album",
}


def volumes_pair(shelf_model, volume_model):
    """Two shelves; volumes 11 and 12 on shelf 1, 13 on shelf 2, 14 on none. The same pks for both twins."""
    one, two = shelf_model.objects.create(pk=1, name="one"), shelf_model.objects.create(pk=2, name="two")
    volumes = [
        volume_model.objects.create(pk=11, title="a", shelf=one),
        volume_model.objects.create(pk=12, title="b", shelf=one),
        volume_model.objects.create(pk=13, title="c", shelf=two),
        volume_model.objects.create(pk=14, title="d", shelf=None),
    ]
    return one, two, volumes


def state(volume_model):
    return list(volume_model.objects.order_by("pk").values_list("pk", "title", "shelf_id"))


@pytest.fixture
def shelves():
    return volumes_pair(Shelf, Volume)


@pytest.fixture
def plain_shelves():
    return volumes_pair(PlainShelf, PlainVolume)


def test_reverse_fk_add_in_bulk_reports_the_moved_rows_once(shelves, plain_shelves, received):
    one, two, (a, _b, c, d) = shelves
    with received.committing():
        one.volumes.add(a, c, d)  # a is there already
    plain_one, _, (pa, _, pc, pd) = plain_shelves
    plain_one.volumes.add(pa, pc, pd)
    call = received.only("update")
    assert call.sender is Volume
    assert call.using == "default"
    assert call.objects == [ModifiedObject(c, {"shelf": two}), ModifiedObject(d, {"shelf": None})]
    assert [o.changed_values["shelf"] for o in call.objects] == [two, None]
    assert [o.instance.shelf_id for o in call.objects] == [one.pk, one.pk]
    assert state(Volume) == state(PlainVolume)


def test_reverse_fk_add_without_bulk_reports_each_save(shelves, plain_shelves, received):
    one, two, (_, _, c, d) = shelves
    with received.committing():
        one.volumes.add(c, d, bulk=False)
    plain_one, _, (_, _, pc, pd) = plain_shelves
    plain_one.volumes.add(pc, pd, bulk=False)
    assert [call.kind for call in received.calls] == ["update", "update"]  # Django saves each one
    assert received.calls[0].objects == [ModifiedObject(c, {"shelf_id": two.pk})]
    assert received.calls[1].objects == [ModifiedObject(d, {"shelf_id": None})]
    assert received.calls[0].objects[0].instance is c
    assert state(Volume) == state(PlainVolume)


def test_reverse_fk_remove_reports_the_rows_set_null(shelves, plain_shelves, received):
    one, _, (_a, b, _, _) = shelves
    with received.committing():
        one.volumes.remove(b)
    plain_one, _, (_, pb, _, _) = plain_shelves
    plain_one.volumes.remove(pb)
    call = received.only("update")
    assert call.objects == [ModifiedObject(b, {"shelf": one})]
    assert call.objects[0].instance.shelf_id is None
    assert state(Volume) == state(PlainVolume)


def test_reverse_fk_clear_reports_every_row_it_detached(shelves, plain_shelves, received):
    one, _, (a, b, _, _) = shelves
    with received.committing():
        one.volumes.clear()
    plain_shelves[0].volumes.clear()
    call = received.only("update")
    assert call.objects == [ModifiedObject(a, {"shelf": one}), ModifiedObject(b, {"shelf": one})]
    assert state(Volume) == state(PlainVolume)


def test_reverse_fk_set_reports_the_removal_then_the_addition(shelves, plain_shelves, received):
    one, two, (a, b, c, d) = shelves
    with received.committing():
        one.volumes.set([b, c, d])
    plain_one, _, (_, pb, pc, pd) = plain_shelves
    plain_one.volumes.set([pb, pc, pd])
    assert [call.kind for call in received.calls] == ["update", "update"]
    removed, added = received.calls
    assert removed.objects == [ModifiedObject(a, {"shelf": one})]
    assert added.objects == [ModifiedObject(c, {"shelf": two}), ModifiedObject(d, {"shelf": None})]
    assert state(Volume) == state(PlainVolume)


def test_base_manager_update_and_bulk_update_are_tracked(shelves, plain_shelves, received):
    _one, _, (a, b, c, d) = shelves
    with received.committing():
        Volume._base_manager.filter(pk__in=[a.pk, b.pk]).update(title="z")
    assert received.only("update").objects == [ModifiedObject(a, {"title": "a"}), ModifiedObject(b, {"title": "b"})]
    c.title, d.title = "y", "d"
    with received.committing():
        assert Volume._base_manager.bulk_update([c, d], ["title"]) == 2
    assert [call.kind for call in received.calls] == ["update", "update"]  # one per block
    call = received.calls[1]
    assert call.objects == [ModifiedObject(c, {"title": "c"})]
    assert call.objects[0].instance.title == "y"
    _, _, (pa, pb, pc, pd) = plain_shelves
    PlainVolume._base_manager.filter(pk__in=[pa.pk, pb.pk]).update(title="z")
    pc.title, pd.title = "y", "d"
    PlainVolume._base_manager.bulk_update([pc, pd], ["title"])
    assert state(Volume) == state(PlainVolume)


def test_base_manager_of_a_queryset_only_model_is_tracked(received):
    note = Note.objects.create(text="old")
    with received.committing():
        Note._base_manager.filter(pk=note.pk).update(text="new")
    assert received.only("update").objects == [ModifiedObject(note, {"text": "old"})]


def test_the_base_manager_is_built_as_django_builds_it_and_filters_nothing():
    manager = Volume._base_manager
    assert (manager.name, manager.model, manager.auto_created) == ("_base_manager", Volume, True)
    assert isinstance(manager, BulkTrackerManager)
    assert type(PlainVolume._base_manager) is models.Manager
    assert str(manager.all().query) == str(Volume.objects.all().query)
    assert type(manager.all()) is type(Volume.objects.all())


# --- GenericRelation --------------------------------------------------------------------------------


def stickers_pair(album_model, sticker_model):
    """Albums 1 and 2; stickers 21 on album 1, 22 on album 2, 23 on none. The same pks for both twins."""
    one, two = album_model.objects.create(pk=1, name="one"), album_model.objects.create(pk=2, name="two")
    return (
        one,
        two,
        [
            sticker_model.objects.create(pk=21, label="x", content_object=one),
            sticker_model.objects.create(pk=22, label="y", content_object=two),
            sticker_model.objects.create(pk=23, label="z"),
        ],
    )


def sticker_state(sticker_model):
    return list(sticker_model.objects.order_by("pk").values_list("pk", "label", "object_id"))


@pytest.fixture
def albums():
    return stickers_pair(Album, Sticker)


@pytest.fixture
def plain_albums():
    return stickers_pair(PlainAlbum, PlainSticker)


def test_generic_relation_add_reports_the_attached_rows_once(albums, plain_albums, received):
    one, two, (x, y, z) = albums
    with received.committing():
        one.stickers.add(x, y, z)
    plain_one, _, plain_stickers = plain_albums
    plain_one.stickers.add(*plain_stickers)
    call = received.only("update")
    assert call.sender is Sticker
    assert call.objects == [
        ModifiedObject(y, {"object_id": two.pk}),
        ModifiedObject(z, {"content_type": None, "object_id": None}),
    ]
    album_type = ContentType.objects.get_for_model(Album)
    assert [(o.instance.content_type, o.instance.object_id) for o in call.objects] == [(album_type, one.pk)] * 2
    assert sticker_state(Sticker) == sticker_state(PlainSticker)


@pytest.mark.parametrize("how", ["remove", "clear"])
def test_generic_relation_remove_and_clear_report_the_deleted_rows(albums, plain_albums, received, how):
    one, _, (x, _, _) = albums
    with received.committing():
        one.stickers.remove(x) if how == "remove" else one.stickers.clear()
    plain_one, _, (px, _, _) = plain_albums
    plain_one.stickers.remove(px) if how == "remove" else plain_one.stickers.clear()
    call = received.only("delete")
    assert call.sender is Sticker
    assert call.objects == [ModifiedObject(x)]
    assert (call.objects[0].instance.label, call.objects[0].instance.object_id) == ("x", one.pk)
    assert sticker_state(Sticker) == sticker_state(PlainSticker)


# --- no receiver: Django's own statements ------------------------------------------------------------


def twin_sql_of(call):
    """``sql_of(call)`` with the plain twins' tables named as the tracked ones and content type ids masked."""
    statements = sql_of(call)
    for plain, tracked in _TWIN_TABLES.items():
        statements = [sql.replace(plain, tracked) for sql in statements]
    return [re.sub(r"(content_type_id\W*\s*(=|IN)\s*\(?)\d+", r"\1<ct>", sql) for sql in statements]


def test_without_a_receiver_related_writes_run_djangos_sql():
    one, _, (a, b, c, d) = volumes_pair(Shelf, Volume)
    plain_one, _, (pa, pb, pc, pd) = volumes_pair(PlainShelf, PlainVolume)
    assert twin_sql_of(lambda: one.volumes.add(c, d)) == twin_sql_of(lambda: plain_one.volumes.add(pc, pd))
    assert twin_sql_of(lambda: one.volumes.set([a])) == twin_sql_of(lambda: plain_one.volumes.set([pa]))
    assert twin_sql_of(lambda: one.volumes.clear()) == twin_sql_of(lambda: plain_one.volumes.clear())
    tracked = twin_sql_of(lambda: Volume._base_manager.filter(pk__in=[a.pk, b.pk]).update(title="q"))
    assert tracked == twin_sql_of(lambda: PlainVolume._base_manager.filter(pk__in=[pa.pk, pb.pk]).update(title="q"))
    album, _, stickers = stickers_pair(Album, Sticker)
    plain_album, _, plain_stickers = stickers_pair(PlainAlbum, PlainSticker)
    assert twin_sql_of(lambda: album.stickers.add(*stickers)) == twin_sql_of(
        lambda: plain_album.stickers.add(*plain_stickers)
    )
    assert twin_sql_of(lambda: album.stickers.clear()) == twin_sql_of(lambda: plain_album.stickers.clear())
    assert state(Volume) == state(PlainVolume)
    assert sticker_state(Sticker) == sticker_state(PlainSticker)
