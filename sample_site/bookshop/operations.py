"""The bulk operations the page's buttons run; the tour command and the tests call them too."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, DecimalField, F, FloatField, Func, Value, When
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Cast, Round

from bulk_tracker import tracking

from .forms import CsvImportError, CsvRow, parse_csv
from .models import Author, Book

__all__ = [
    "CsvImportError",
    "PriceRangeError",
    "delete_author",
    "import_books",
    "import_csv",
    "raise_prices",
    "restock",
]


class ScaledMoney(Func):
    """``field * factor``, rounded half away from zero to the field's decimal places, computed exactly.

    PostgreSQL and MariaDB multiply and ``ROUND()`` exact decimals. SQLite has no decimal type (its
    ``ROUND()`` of a float product differs between SQLite versions), so there the value is computed in
    integers: cents times the factor's digits, rounded by integer division.
    """

    def __init__(self, field_name: str, factor: Decimal, *, max_digits: int, decimal_places: int) -> None:
        money = DecimalField(max_digits=max_digits, decimal_places=decimal_places)
        factor_places = max(0, -int(factor.as_tuple().exponent))
        exact = Round(
            F(field_name)
            * Value(factor, output_field=DecimalField(max_digits=max_digits, decimal_places=factor_places)),
            decimal_places,
            output_field=money,
        )
        unit, denominator = 10**decimal_places, 10**factor_places
        units = Cast(Round(F(field_name) * Value(unit)), BigIntegerField())
        half = denominator // 2
        away_from_zero = Case(When(**{f"{field_name}__lt": 0}, then=Value(-half)), default=Value(half))
        scaled = (units * Value(int(factor.scaleb(factor_places))) + away_from_zero) / Value(denominator)
        in_integers = CombinedExpression(Cast(scaled, FloatField()), "/", Value(float(unit)), output_field=money)
        super().__init__(exact, in_integers, output_field=money)

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        """The exact decimal arithmetic of PostgreSQL and MariaDB."""
        return compiler.compile(self.get_source_expressions()[0])

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        """Integer arithmetic: SQLite's decimals are floats."""
        return compiler.compile(self.get_source_expressions()[1])


class PriceRangeError(ValueError):
    """Some new price would need more digits than ``Book.price`` holds."""


def new_price(percent: Decimal) -> ScaledMoney:
    """The price after a change of ``percent`` (at most two decimal places), as the database computes it."""
    field = Book._meta.get_field("price")
    factor = (Decimal(100) + percent) / Decimal(100)
    return ScaledMoney("price", factor, max_digits=field.max_digits, decimal_places=field.decimal_places)


def largest_price() -> Decimal:
    """The largest value ``Book.price`` can store (999999.99)."""
    field = Book._meta.get_field("price")
    return Decimal(10) ** (field.max_digits - field.decimal_places) - Decimal(1).scaleb(-field.decimal_places)


def raise_prices(percent: Decimal) -> int:
    """``update()`` with an F() expression: every price changed by ``percent``, rounded half away from zero.

    All or nothing: a price that would not fit the column raises PriceRangeError and nothing is written.
    """
    comment = f"raise prices by {percent}%" if percent >= 0 else f"lower prices by {-percent}%"
    with transaction.atomic(), tracking(comment=comment):
        limit = largest_price()
        if Book.objects.annotate(new_price=new_price(percent)).filter(new_price__gt=limit).exists():
            raise PriceRangeError(f"Some price would exceed {limit}: nothing was changed.")
        return Book.objects.update(price=new_price(percent))


def restock(below: int, amount: int) -> int:
    """``bulk_update()``: every book with fewer than ``below`` copies gets ``amount`` more."""
    books = list(Book.objects.filter(stock__lt=below))
    for book in books:
        book.stock += amount
    with tracking(comment=f"restock {amount} where fewer than {below}"):
        return Book.objects.bulk_update(books, ["stock"])


def import_csv(text: str) -> int:
    """``bulk_create(update_conflicts=True)``: rows ``isbn,title,author,price,stock``, matched by ISBN.

    CsvImportError, before anything is written, when a line is not valid.
    """
    return import_books(parse_csv(text))


def import_books(rows: list[CsvRow]) -> int:
    """The upsert of ``rows`` (valid ones, from ``parse_csv()``): new ISBNs created, known ones updated."""
    with transaction.atomic(), tracking(comment=f"CSV import of {len(rows)} books"):
        names = {row.author for row in rows}
        Author.objects.bulk_create([Author(name=n) for n in names], ignore_conflicts=True)
        authors = Author.objects.in_bulk(names, field_name="name")
        for name in names - authors.keys():
            # The name matched another spelling under the column's collation (MariaDB ignores case and accents).
            authors[name] = Author.objects.get(name=name)
        books = [
            Book(isbn=row.isbn, title=row.title, author=authors[row.author], price=row.price, stock=row.stock)
            for row in rows
        ]
        upsert: dict[str, Any] = {"update_conflicts": True, "update_fields": ["title", "author", "price", "stock"]}
        if connection.features.supports_update_conflicts_with_target:
            upsert["unique_fields"] = ["isbn"]
        Book.objects.bulk_create(books, **upsert)
    return len(books)


def delete_author(author: Author) -> tuple[int, dict[str, int]]:
    """``delete()`` with a cascade to the books and SET_NULL on their reviews."""
    with tracking(comment=f"delete {author.name} and their books"):
        return author.delete()
