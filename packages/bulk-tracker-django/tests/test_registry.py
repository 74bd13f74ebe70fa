"""registry.install()/uninstall(): every patch bulk_tracker makes to Django, undone exactly, and made again."""

import pytest
from django.apps import apps
from django.db import models
from django.db.migrations.serializer import Serializer
from django.db.models.deletion import Collector
from django.db.models.fields.related_descriptors import ManyToManyDescriptor
from django.db.models.options import Options
from django.db.models.signals import m2m_changed as django_m2m_changed
from django.db.models.signals import post_delete as django_post_delete
from django.test.utils import isolate_apps

from bulk_tracker import registry
from bulk_tracker.checks import untracked_base_manager_warnings
from bulk_tracker.deletion import ReportingOnDelete
from bulk_tracker.helper_objects import ModifiedObject
from bulk_tracker.managers import BulkTrackerManager, BulkTrackerQuerySet
from bulk_tracker.models import BulkTrackerModel
from testapp.models import Author, Book, Crate, Critic, Note, PlainVolume, Publisher, Record, Review, Shelf, Volume

INSTALLED_COLLECTOR_DELETE = Collector.__dict__["delete"]  # test modules are imported after ready() installed
INSTALLED_BASE_MANAGER = Options.__dict__["base_manager"]


@pytest.fixture
def uninstalled():
    """bulk_tracker uninstalled for the test, installed again afterwards whatever happens."""
    registry.uninstall()
    try:
        yield
    finally:
        registry.install()


def on_delete_handlers():
    """Every foreign key's on_delete in the project, by field."""
    return {
        field: field.remote_field.on_delete
        for model in apps.get_models()
        for field in model._meta.local_fields
        if field.remote_field is not None and hasattr(field.remote_field, "on_delete")
    }


def bridged(model):
    return django_post_delete.has_listeners(model)


def test_installed_by_ready_and_installing_again_changes_nothing():
    assert registry.is_installed()
    handlers = on_delete_handlers()
    delete = Collector.__dict__["delete"]
    registry.install()
    assert Collector.__dict__["delete"] is delete
    assert on_delete_handlers() == handlers
    assert all(handler is on_delete_handlers()[field] for field, handler in handlers.items())
    assert not isinstance(Review._meta.get_field("critic").remote_field.on_delete.original, ReportingOnDelete)


@pytest.mark.usefixtures("uninstalled")
def test_uninstall_restores_djangos_objects_exactly(capture_signals):
    assert not registry.is_installed()
    assert Collector.__dict__["delete"].__module__ == "django.db.models.deletion"
    assert Collector.__dict__["delete"].__qualname__ == "Collector.delete"
    assert Options.__dict__["base_manager"].func.__module__ == "django.db.models.options"
    assert type(Book._base_manager) is models.Manager
    assert Review._meta.get_field("critic").remote_field.on_delete is models.SET_NULL
    assert Review._meta.get_field("second_critic").remote_field.on_delete is models.SET_DEFAULT
    assert Crate._meta.get_field("clerk").remote_field.on_delete is models.SET_NULL
    assert not any(isinstance(handler, ReportingOnDelete) for handler in on_delete_handlers().values())
    assert ReportingOnDelete not in Serializer._registry
    assert ManyToManyDescriptor.__dict__["related_manager_cls"].func.__module__ == ManyToManyDescriptor.__module__
    assert "bulk_tracker_original" not in vars(Record.labels.related_manager_cls.set)
    django_delete, django_base_manager, django_handlers, django_m2m_managers = (
        Collector.__dict__["delete"],
        Options.__dict__["base_manager"],
        on_delete_handlers(),
        ManyToManyDescriptor.__dict__["related_manager_cls"],
    )
    registry.install()
    assert Collector.__dict__["delete"] is not django_delete
    assert Options.__dict__["base_manager"] is not django_base_manager
    assert isinstance(Book._base_manager, BulkTrackerManager)
    assert ManyToManyDescriptor.__dict__["related_manager_cls"] is not django_m2m_managers
    assert "bulk_tracker_original" in vars(Record.labels.related_manager_cls.set)
    registry.uninstall()
    registry.uninstall()  # twice: nothing more to undo
    assert Collector.__dict__["delete"] is django_delete
    assert Options.__dict__["base_manager"] is django_base_manager
    assert type(Book._base_manager) is models.Manager
    assert ManyToManyDescriptor.__dict__["related_manager_cls"] is django_m2m_managers
    assert "bulk_tracker_original" not in vars(Record.labels.related_manager_cls.set)
    assert not django_m2m_changed.has_listeners(Record.labels.through)
    handlers = on_delete_handlers()
    assert handlers.keys() == django_handlers.keys()
    assert all(handlers[field] is handler for field, handler in django_handlers.items())
    with capture_signals():  # a post_delete_signal receiver: no bridge while uninstalled
        assert not bridged(Book)


@pytest.mark.django_db
def test_uninstalled_related_writes_are_plain_django_and_reinstalling_tracks_them_again(capture_signals):
    shelf = Shelf.objects.create(name="s")
    volume = Volume.objects.create(title="v")
    registry.uninstall()
    try:
        with capture_signals() as captured:
            shelf.volumes.add(volume)  # Django's plain base manager: not seen
            assert not bridged(Volume)
        assert captured.calls == []
    finally:
        registry.install()
    assert type(Options.__dict__["base_manager"]) is type(INSTALLED_BASE_MANAGER)
    assert Collector.__dict__["delete"] is INSTALLED_COLLECTOR_DELETE
    assert isinstance(Review._meta.get_field("critic").remote_field.on_delete, ReportingOnDelete)
    assert ReportingOnDelete in Serializer._registry
    other = Shelf.objects.create(name="o")
    with capture_signals() as captured:
        assert bridged(Volume)
        other.volumes.add(volume)
        Volume.objects.filter(pk=volume.pk).delete()
    assert [call.kind for call in captured.calls] == ["update", "delete"]
    assert captured.calls[0].objects == [ModifiedObject(volume, {"shelf": shelf})]
    assert captured.calls[1].objects == [ModifiedObject(volume)]


@pytest.mark.django_db
def test_set_null_is_reported_again_after_a_reinstall(capture_signals, uninstalled):
    registry.install()
    author = Author.objects.create(name="a")
    book = Book.objects.create(title="b", author=author)
    critic = Critic.objects.create(name="c")
    Critic.objects.create(name="anonymous")  # Review.fallback_critic's SET(): Django 4.2 calls it with no row to set
    review = Review.objects.create(book=book, critic=critic, text="t")
    critic_pk = critic.pk
    with capture_signals() as captured:
        critic.delete()
    assert captured.of("update", Review)[0].objects == [ModifiedObject(review, {"critic_id": critic_pk})]


def test_a_model_defined_after_install_has_its_set_null_wrapped_and_unwrapped(uninstalled):
    registry.install()
    with isolate_apps("testapp"):

        class Sleeve(BulkTrackerModel):
            book = models.ForeignKey(Book, null=True, on_delete=models.SET_NULL)

            class Meta:
                app_label = "testapp"

        class PlainSleeve(models.Model):
            book = models.ForeignKey(Book, null=True, on_delete=models.SET_NULL)

            class Meta:
                app_label = "testapp"

        remote = Sleeve._meta.get_field("book").remote_field
        assert isinstance(remote.on_delete, ReportingOnDelete)
        assert remote.on_delete == models.SET_NULL
        assert PlainSleeve._meta.get_field("book").remote_field.on_delete is models.SET_NULL
        registry.uninstall()
        assert remote.on_delete is models.SET_NULL


def test_is_tracked_for_models_and_querysets():
    assert registry.is_tracked(Author)  # a BulkTrackerModel
    assert registry.is_tracked(Note)  # BulkTrackerQuerySet.as_manager() only
    assert not registry.is_tracked(Publisher)
    assert not registry.is_tracked(PlainVolume)


@isolate_apps("testapp")
def test_w003_an_untracked_base_manager_name_on_a_tracked_model():
    class Raw(BulkTrackerModel):
        plain = models.Manager()

        class Meta:
            app_label = "testapp"
            base_manager_name = "plain"

    class Fine(BulkTrackerModel):
        everything = BulkTrackerManager()

        class Meta:
            app_label = "testapp"
            base_manager_name = "everything"

    class QuerysetOnly(models.Model):
        objects = BulkTrackerQuerySet.as_manager()
        plain = models.Manager()

        class Meta:
            app_label = "testapp"
            base_manager_name = "plain"

    class Untracked(models.Model):
        plain = models.Manager()

        class Meta:
            app_label = "testapp"
            base_manager_name = "plain"

    warnings = untracked_base_manager_warnings([Raw, Fine, QuerysetOnly, Untracked, Shelf])
    assert [(w.id, w.obj) for w in warnings] == [("bulk_tracker.W003", Raw), ("bulk_tracker.W003", QuerysetOnly)]
    assert "related manager's add()" in warnings[0].msg
    assert "BulkTrackerManager" in warnings[0].hint


def test_the_tracked_base_manager_survives_djangos_cache_clearing():
    apps.clear_cache()  # empties every Options cache, base_manager included (override_settings, available_apps)
    assert "base_manager" not in Volume._meta.__dict__
    manager = Volume._base_manager
    assert isinstance(manager, BulkTrackerManager)
    assert (manager.name, manager.model, manager.auto_created) == ("_base_manager", Volume, True)
    assert Volume._base_manager is manager  # cached again, as Django caches it
    assert type(PlainVolume._base_manager) is models.Manager
