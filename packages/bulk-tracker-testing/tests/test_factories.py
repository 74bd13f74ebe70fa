from decimal import Decimal

import factory
import pytest

from bulk_tracker.helper_objects import ModifiedObject, TrackingInfo
from bulk_tracker_testing.factories import BulkTrackerModelFactory, ModifiedObjectFactory, TrackingInfoFactory
from testapp.models import Author, Book


class AuthorFactory(BulkTrackerModelFactory):
    class Meta:
        model = Author

    name = factory.Sequence(lambda n: f"Author {n}")


class BookFactory(BulkTrackerModelFactory):
    class Meta:
        model = Book

    title = factory.Sequence(lambda n: f"Book {n}")
    price = Decimal("10.00")
    author = factory.SubFactory(AuthorFactory)


def test_tracking_info_factory():
    first, second = TrackingInfoFactory(), TrackingInfoFactory(user="ann", is_robust=True)
    assert isinstance(first, TrackingInfo)
    assert first.comment != second.comment
    assert (second.user, second.is_robust, second.kwargs) == ("ann", True, {})


def price_drops(sender, objects, tracking_info_=None, **kwargs):
    """A receiver under test: the titles whose price went down."""
    return [obj.instance.title for obj in objects if obj.changed_values.get("price", 0) > obj.instance.price]


def test_modified_object_factory_unit_tests_a_receiver_without_a_database():
    objects = [
        ModifiedObjectFactory(instance=Book(title="Dune", price=5), changed_values={"price": 9}),
        ModifiedObjectFactory(instance=Book(title="Emma", price=9), changed_values={"price": 5}),
        ModifiedObjectFactory(instance=Book(title="Ulysses", price=1)),
    ]
    assert isinstance(objects[0], ModifiedObject)
    assert objects[2].changed_values == {}
    assert price_drops(Book, objects, tracking_info_=TrackingInfoFactory()) == ["Dune"]


@pytest.mark.django_db
def test_create_batch_is_one_bulk_create(capture_signals):
    info = TrackingInfoFactory()
    with capture_signals() as captured:
        books = BookFactory.create_batch(3, tracking_info_=info)
    assert all(book.pk for book in books)
    captured.assert_created(Book, 3, pks=[book.pk for book in books], calls=1, tracking_info=info)
    captured.assert_created(Author, 3, pks=[book.author.pk for book in books], tracking_info=None)
    assert Book.objects.filter(author__in=[book.author for book in books]).count() == 3


@pytest.mark.django_db
def test_create_batch_queries(capture_signals, django_assert_num_queries):
    author = AuthorFactory()
    with capture_signals(), django_assert_num_queries(1):
        BookFactory.create_batch(3, author=author)
    with capture_signals(), django_assert_num_queries(3 + 1):  # the authors, then the books
        BookFactory.create_batch(3)


class ShoutingAuthorFactory(AuthorFactory):
    @factory.post_generation
    def shout(self, create, extracted, **kwargs):
        self.name = self.name.upper()


@pytest.mark.django_db
def test_create_batch_saves_what_post_generation_hooks_changed(capture_signals):
    with capture_signals() as captured:
        authors = ShoutingAuthorFactory.create_batch(2)
    captured.assert_created(Author, 2, calls=1)
    assert all(author.name.startswith("AUTHOR ") for author in authors)
    assert list(Author.objects.order_by("pk").values_list("name", flat=True)) == [a.name for a in authors]


@pytest.mark.django_db
def test_create_passes_tracking_info(capture_signals):
    info = TrackingInfoFactory()
    with capture_signals() as captured:
        book = BookFactory(tracking_info_=info, title="Dune")
        plain = BookFactory()
    assert Book.objects.get(pk=book.pk).title == "Dune"
    captured.assert_created(Book, 2, pks=[book.pk, plain.pk], calls=2)
    assert [call.tracking_info for call in captured.of("create", Book)] == [info, None]
