"""bulk_tracker.conf: each setting's default, read from django.conf.settings; BULK_TRACKER_FAST_LOADING."""

import pytest
from django.test import override_settings

from bulk_tracker import conf, loading
from testapp.models import Author

pytestmark = pytest.mark.django_db


def author_row(author):
    attnames = [field.attname for field in Author._meta.concrete_fields]
    return attnames, [getattr(author, name) for name in attnames]


def test_fast_loading_is_on_by_default():
    assert conf.fast_loading() is True
    author = Author.objects.create(name="Ann")
    _, values = author_row(author)
    built = loading.build(Author, "default", values, {})
    assert built is not None
    assert (built.pk, built.name, built._state.db, built._state.adding) == (author.pk, "Ann", "default", False)


def test_fast_loading_off_leaves_every_row_to_django_and_back_on_builds_again():
    author = Author.objects.create(name="Ann")
    attnames, values = author_row(author)
    with override_settings(BULK_TRACKER_FAST_LOADING=False):
        assert conf.fast_loading() is False
        assert loading.build(Author, "default", values, {}) is None
        loaded = Author.from_db("default", attnames, values)  # Django's own path
        assert (loaded.pk, loaded.name, loaded.tracker.saved_data["name"]) == (author.pk, "Ann", "Ann")
        assert loaded.tracker.changed() == {}
        assert Author.objects.get().name == "Ann"
    assert loading.build(Author, "default", values, {}) is not None
