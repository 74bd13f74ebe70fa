"""Each button of the page, through the test client: the audit entries, counters and cache it leaves."""

from decimal import Decimal

import pytest
from django.core.cache import cache

from sample_site.bookshop.demo import add_demo_data
from sample_site.bookshop.models import AuditEntry, Author, Book, Review, Tag
from sample_site.bookshop.receivers import book_cache_key, was_price_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(django_user_model, client):
    add_demo_data()
    user = django_user_model.objects.create_user("clerk", password="pw")
    client.force_login(user)
    cache.clear()
    return user


def entries(**filters):
    return [
        (e.operation, e.model, e.object_repr, e.changes) for e in AuditEntry.objects.filter(**filters).order_by("pk")
    ]


def test_raise_prices_audits_every_book_with_old_and_new_price(shop, client, capture_signals):
    with capture_signals() as captured:
        response = client.post("/raise-prices/", {"percent": "10"})
    assert response.status_code == 302
    captured.assert_updated(Book, count=6, calls=1)
    assert captured.updated(Book)[0].changed_values == {"price": Decimal("9.50")}
    assert entries(model="Book")[0] == ("update", "Book", "The Left Hand of Darkness", {"price": ["9.50", "10.45"]})
    assert {(e.user, e.comment) for e in AuditEntry.objects.all()} == {(shop, "raise prices by 10%")}


def test_restock_reports_only_low_stock_books_and_drops_only_their_cache(shop, client, capture_signals):
    books = {b.title: b for b in Book.objects.all()}
    for book in books.values():
        cache.set(book_cache_key(book.pk), {"cached_at": "before"})
    with capture_signals() as captured:
        client.post("/restock/", {"below": "3", "amount": "5"})
    low = ["A Wizard of Earthsea", "The Dispossessed", "Consider Phlebas"]
    captured.assert_updated(Book, count=3, calls=1, pks=[books[t].pk for t in sorted(low, key=lambda t: books[t].pk)])
    assert sorted(e[2] for e in entries(model="Book")) == sorted(low)
    assert {t for t, b in books.items() if cache.get(book_cache_key(b.pk)) is None} == set(low)


def test_csv_import_creates_new_isbns_and_updates_known_ones(shop, client, capture_signals):
    csv = (
        "978-0-00-000001-1,The Left Hand of Darkness,Ursula Le Guin,9.50,10\n"
        "978-0-00-000100-8,Use of Weapons,Iain M. Banks,12.50,2"
    )
    with capture_signals() as captured:
        client.post("/import/", {"csv": csv})
    captured.assert_created(Book, count=1, calls=1)
    captured.assert_updated(Book, count=1, calls=1)
    left_hand = Book.objects.get(isbn="978-0-00-000001-1")
    captured.assert_changed(left_hand, "stock", 4, 10)
    assert entries(model="Book") == [
        ("create", "Book", "Use of Weapons", {}),
        ("update", "Book", "The Left Hand of Darkness", {"stock": ["4", "10"]}),
    ]
    assert Author.objects.get(name="Iain M. Banks").book_count == 3


def test_delete_author_cascades_to_books_and_unlinks_reviews(shop, client, capture_signals):
    banks = Author.objects.get(name="Iain M. Banks")
    with capture_signals() as captured:
        client.post("/delete-author/", {"author": banks.pk})
    captured.assert_deleted(Author, count=1, calls=1)
    captured.assert_deleted(Book, count=2, calls=1)
    captured.assert_updated(Review, count=2, calls=1)
    assert [e[:2] for e in entries()] == [("update", "Review")] * 2 + [("delete", "Book")] * 2 + [("delete", "Author")]
    assert Review.objects.filter(book=None).count() == 2
    assert list(Author.objects.order_by("name").values_list("name", "book_count")) == [
        ("Susanna Clarke", 1),
        ("Ursula Le Guin", 3),
    ]


def test_counter_follows_a_book_moved_to_another_author(shop, capture_signals):
    clarke, le_guin = Author.objects.get(name="Susanna Clarke"), Author.objects.get(name="Ursula Le Guin")
    with capture_signals():
        Book.objects.filter(author=le_guin, title__startswith="A ").update(author=clarke)
    assert list(
        Author.objects.filter(pk__in=[clarke.pk, le_guin.pk]).order_by("name").values_list("book_count", flat=True)
    ) == [2, 2]


def test_page_and_feed_answer(shop, client):
    assert "Change feed" in client.get("/").content.decode()
    assert client.get("/feed/").status_code == 200


def test_admin_edits_carry_the_signed_in_user(shop, admin_client, admin_user, capture_signals):
    book = Book.objects.get(title="Piranesi")
    form = {
        "isbn": book.isbn,
        "title": book.title,
        "author": book.author_id,
        "category": book.category_id,
        "price": "15.00",
        "stock": book.stock,
    }
    with capture_signals() as captured:
        response = admin_client.post(f"/admin/bookshop/book/{book.pk}/change/", form)
    assert response.status_code == 302
    assert captured.updated(Book)[0].changed_values == {"price": Decimal("14.40")}
    [entry] = AuditEntry.objects.all()
    assert (entry.operation, entry.object_repr, entry.changes, entry.user) == (
        "update",
        "Piranesi",
        {"price": ["14.40", "15.00"]},
        admin_user,
    )


def test_a_restock_over_the_limit_is_vetoed_before_the_write(shop, client, capture_signals):
    stock = dict(Book.objects.values_list("pk", "stock"))
    with capture_signals() as captured:
        response = client.post("/restock/", {"below": "3", "amount": "60"})
    assert response.status_code == 400
    assert "more than 50: nothing changed." in response.content.decode()
    assert dict(Book.objects.values_list("pk", "stock")) == stock
    captured.assert_nothing_sent()
    assert not AuditEntry.objects.exists()


def test_only_price_changes_reach_the_old_price_receiver(shop, client, django_capture_on_commit_callbacks):
    dune = Book.objects.get(title="The Left Hand of Darkness")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/restock/", {"below": "10", "amount": "1"})
    assert cache.get(was_price_key(dune.pk)) is None  # a stock change: not heard
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/raise-prices/", {"percent": "10"})
    assert cache.get(was_price_key(dune.pk)) == Decimal("9.50")
    assert "was 9.50" in client.get("/").content.decode()


def test_editing_a_books_tags_in_the_admin_is_one_audited_change(shop, admin_client, admin_user, capture_signals):
    book = Book.objects.get(title="The Left Hand of Darkness")
    tags = dict(Tag.objects.values_list("name", "pk"))
    form = {
        "isbn": book.isbn,
        "title": book.title,
        "author": book.author_id,
        "category": book.category_id,
        "price": book.price,
        "stock": book.stock,
        "tags": [tags["classic"], tags["series"]],
    }
    with capture_signals() as captured:
        response = admin_client.post(f"/admin/bookshop/book/{book.pk}/change/", form)
    assert response.status_code == 302
    captured.assert_m2m_changed(
        book, "tags", old=[tags["classic"], tags["award winner"]], new=[tags["classic"], tags["series"]]
    )
    [entry] = AuditEntry.objects.all()
    assert (entry.operation, entry.object_repr, entry.changes, entry.user) == (
        "update",
        "The Left Hand of Darkness",
        {"tags": ["award winner, classic", "classic, series"]},
        admin_user,
    )
