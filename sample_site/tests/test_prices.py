"""Raise prices computes money as money: exact decimals, rounded half away from zero to the cent, on every backend.

The expected prices are written out by hand; ``ROUND_HALF_UP`` (Python's name for half away from zero) is
checked to agree with them, and a half-even rule would disagree on the cases marked "half".
"""

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest

from sample_site.bookshop import operations
from sample_site.bookshop.models import AuditEntry, Author, Book

pytestmark = pytest.mark.django_db

CASES = {
    Decimal("10"): [
        ("12.00", "13.20"),  # a whole number: no integer division
        ("9.50", "10.45"),
        ("14.40", "15.84"),
        ("8.75", "9.63"),  # half: 9.625 (half-even gives 9.62)
        ("0.05", "0.06"),  # half: 0.055
        ("999.99", "1099.99"),  # 1099.989
        ("-8.75", "-9.63"),  # half, away from zero below zero too
    ],
    Decimal("-15"): [
        ("12.00", "10.20"),
        ("0.50", "0.43"),  # half: 0.425 (half-even gives 0.42)
        ("9.50", "8.08"),  # half: 8.075
        ("8.25", "7.01"),  # 7.0125
    ],
    Decimal("-65"): [("12.70", "4.45")],  # half: 4.445, which SQLite's float ROUND() gives as 4.44 since 3.43
    Decimal("0.5"): [("1.00", "1.01"), ("3.00", "3.02")],  # half: 1.005 and 3.015 (half-even 1.00, 3.02)
    Decimal("100"): [("12.34", "24.68"), ("499999.99", "999999.98")],
    Decimal("-90"): [("10.00", "1.00"), ("0.01", "0.00"), ("0.05", "0.01")],  # 0.001; half: 0.005
}


def stored_prices() -> dict[str, str]:
    return {book.isbn: str(book.price) for book in Book.objects.order_by("isbn")}


@pytest.fixture
def author() -> Author:
    return Author.objects.create(name="Anonymous")


@pytest.mark.parametrize("percent", CASES, ids=str)
def test_stored_prices_are_rounded_half_away_from_zero_to_the_cent(author, percent, capture_signals):
    cases = CASES[percent]
    Book.objects.bulk_create(
        Book(isbn=f"isbn-{i:02}", title=f"Book {i}", author=author, price=Decimal(price))
        for i, (price, _) in enumerate(cases)
    )
    with capture_signals() as captured:
        assert operations.raise_prices(percent) == len(cases)
    assert stored_prices() == {f"isbn-{i:02}": new for i, (_, new) in enumerate(cases)}
    factor = (100 + percent) / 100
    assert [new for _, new in cases] == [
        str((Decimal(p) * factor).quantize(Decimal("0.01"), ROUND_HALF_UP)) for p, _ in cases
    ]
    changed = {obj.instance.isbn: obj.changed_values for obj in captured.updated(Book)}
    assert changed == {f"isbn-{i:02}": {"price": Decimal(old)} for i, (old, new) in enumerate(cases) if old != new}


def test_the_cases_include_ones_where_half_even_would_differ():
    differ = [
        (price, percent)
        for percent, cases in CASES.items()
        for price, new in cases
        if (Decimal(price) * (100 + percent) / 100).quantize(Decimal("0.01"), ROUND_HALF_EVEN) != Decimal(new)
    ]
    assert len(differ) >= 4


def test_a_price_that_would_not_fit_changes_nothing(author, capture_signals):
    Book.objects.bulk_create(
        [
            Book(isbn="small", title="Small", author=author, price=Decimal("10.00")),
            Book(isbn="large", title="Large", author=author, price=Decimal("500000.00")),
        ]
    )
    with capture_signals() as captured, pytest.raises(operations.PriceRangeError, match=r"exceed 999999\.99"):
        operations.raise_prices(Decimal(100))
    assert stored_prices() == {"large": "500000.00", "small": "10.00"}
    assert captured.updated(Book) == []
    assert not AuditEntry.objects.exists()


def test_the_largest_price_that_fits_is_written(author):
    Book.objects.create(isbn="edge", title="Edge", author=author, price=Decimal("909090.90"))
    operations.raise_prices(Decimal(10))  # 999999.99 exactly
    assert stored_prices() == {"edge": "999999.99"}
