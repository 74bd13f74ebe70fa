"""The bulk operations the page's buttons run; the tour command and the tests call them too."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F

from bulk_tracker import tracking

from .models import Author, Book


def raise_prices(percent: Decimal) -> int:
    """``update()`` with an F() expression: every price up by ``percent``."""
    with tracking(comment=f"raise prices by {percent}%"):
        return Book.objects.update(price=F("price") * (100 + percent) / 100)


def restock(below: int, amount: int) -> int:
    """``bulk_update()``: every book with fewer than ``below`` copies gets ``amount`` more."""
    books = list(Book.objects.filter(stock__lt=below))
    for book in books:
        book.stock += amount
    with tracking(comment=f"restock {amount} where fewer than {below}"):
        return Book.objects.bulk_update(books, ["stock"])


class CsvImportError(ValueError):
    """The CSV text is not isbn,title,author,price,stock lines."""


def import_csv(text: str) -> int:
    """``bulk_create(update_conflicts=True)``: rows ``isbn,title,author,price,stock``, matched by ISBN."""
    try:
        rows = [row for row in csv.reader(io.StringIO(text.strip())) if row]
        parsed = [
            (isbn.strip(), title.strip(), author.strip(), Decimal(price), int(stock))
            for isbn, title, author, price, stock in rows
        ]
    except (ValueError, ArithmeticError) as error:
        raise CsvImportError(f"Each line must be isbn,title,author,price,stock ({error})") from error
    with transaction.atomic(), tracking(comment=f"CSV import of {len(parsed)} books"):
        names = {author for _, _, author, _, _ in parsed}
        Author.objects.bulk_create([Author(name=n) for n in names], ignore_conflicts=True)
        authors = Author.objects.in_bulk(names, field_name="name")
        books = [
            Book(isbn=isbn, title=title, author=authors[author], price=price, stock=stock)
            for isbn, title, author, price, stock in parsed
        ]
        upsert = {"update_conflicts": True, "update_fields": ["title", "author", "price", "stock"]}
        if connection.features.supports_update_conflicts_with_target:
            upsert["unique_fields"] = ["isbn"]
        Book.objects.bulk_create(books, **upsert)
    return len(books)


def delete_author(author: Author) -> tuple[int, dict[str, int]]:
    """``delete()`` with a cascade to the books and SET_NULL on their reviews."""
    with tracking(comment=f"delete {author.name} and their books"):
        return author.delete()
