"""Demo data for an empty database, and the demo login."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model

from bulk_tracker import suspended

from .models import Author, Book, Category, Review, Tag
from .receivers import recount_books

DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"

BOOKS = [
    ("978-0-00-000001-1", "The Left Hand of Darkness", "Ursula Le Guin", "Science fiction", "9.50", 4),
    ("978-0-00-000002-8", "A Wizard of Earthsea", "Ursula Le Guin", "Fantasy", "8.25", 2),
    ("978-0-00-000003-5", "The Dispossessed", "Ursula Le Guin", "Science fiction", "12.00", 1),
    ("978-0-00-000004-2", "Consider Phlebas", "Iain M. Banks", "Science fiction", "11.25", 0),
    ("978-0-00-000005-9", "The Player of Games", "Iain M. Banks", "Science fiction", "10.00", 6),
    ("978-0-00-000006-6", "Piranesi", "Susanna Clarke", "Fantasy", "14.40", 3),
]


def add_demo_data() -> bool:
    """Fill an empty database (quietly: demo data is not news). True when it did."""
    if Book.objects.exists():
        return False
    with suspended():
        authors = {a.name: a for a in Author.objects.bulk_create(Author(name=n) for n in sorted({b[2] for b in BOOKS}))}
        categories = {
            c.name: c for c in Category.objects.bulk_create(Category(name=n) for n in sorted({b[3] for b in BOOKS}))
        }
        books = Book.objects.bulk_create(
            Book(isbn=i, title=t, author=authors[a], category=categories[c], price=Decimal(p), stock=s)
            for i, t, a, c, p, s in BOOKS
        )
        Review.objects.bulk_create(
            [
                Review(book=books[0], text="Changed how I think about gender and politics.", stars=5),
                Review(book=books[3], text="A sprawling, bleak space opera.", stars=4),
                Review(book=books[4], text="The best entry point to the Culture.", stars=5),
            ]
        )
        tags = {t.name: t for t in Tag.objects.bulk_create(Tag(name=n) for n in ("classic", "award winner", "series"))}
        books[0].tags.add(tags["classic"], tags["award winner"])
        books[1].tags.add(tags["classic"], tags["series"])
        books[3].tags.add(tags["series"])
    recount_books(Author.objects.all())
    return True


def ensure_demo_user() -> None:
    users = get_user_model()
    if not users.objects.filter(username=DEMO_USER).exists():
        users.objects.create_superuser(DEMO_USER, "demo@example.com", DEMO_PASSWORD)
