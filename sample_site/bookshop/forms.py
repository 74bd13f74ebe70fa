"""Every input of the page's buttons, validated before anything is written: bad input is a 400, never a 500."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms

from .models import Author, Book

SAMPLE_CSV = (
    "978-0-00-000001-1,The Left Hand of Darkness,Ursula Le Guin,10.50,3\n"
    "978-0-00-000010-0,Excession,Iain M. Banks,9.99,5"
)
MAX_CSV_ROWS = 1000
MAX_STOCK = 1_000_000


def _small(size: int, mode: str) -> forms.TextInput:
    return forms.TextInput(attrs={"size": size, "inputmode": mode})


class RaisePricesForm(forms.Form):
    """A change of every price by ``percent``: from -90 % (a tenth of the price) to +100 % (double)."""

    percent = forms.DecimalField(
        min_value=Decimal(-90),
        max_value=Decimal(100),
        max_digits=5,
        decimal_places=2,
        initial=10,
        widget=_small(3, "decimal"),
    )


class RestockForm(forms.Form):
    """``amount`` more copies (1 to 1000) of every book with fewer than ``below`` (1 to 1000)."""

    amount = forms.IntegerField(min_value=1, max_value=1000, initial=5, widget=_small(2, "numeric"))
    below = forms.IntegerField(min_value=1, max_value=1000, initial=3, widget=_small(2, "numeric"))


class AuthorChoiceField(forms.ModelChoiceField):
    """An author shown with the number of books a delete would take along."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.book_count} books)"


class DeleteAuthorForm(forms.Form):
    """The author to delete, one of those in the database."""

    author = AuthorChoiceField(queryset=Author.objects.order_by("name"), empty_label=None)


class CsvRowForm(forms.Form):
    """One line of a CSV import, with the limits of the columns it goes to."""

    isbn = Book._meta.get_field("isbn").formfield()
    title = Book._meta.get_field("title").formfield()
    author = Author._meta.get_field("name").formfield()
    price = Book._meta.get_field("price").formfield(min_value=Decimal(0))
    stock = forms.IntegerField(min_value=0, max_value=MAX_STOCK)


@dataclass(frozen=True)
class CsvRow:
    """A valid line of a CSV import."""

    isbn: str
    title: str
    author: str
    price: Decimal
    stock: int


class CsvImportError(ValueError):
    """The CSV text is not isbn,title,author,price,stock lines within the columns' limits."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_csv(text: str) -> list[CsvRow]:
    """The rows of ``text`` (``isbn,title,author,price,stock`` lines), or CsvImportError naming every bad line."""
    lines = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text.strip())), 1) if row]
    if not lines:
        raise CsvImportError(["Enter at least one line: isbn,title,author,price,stock."])
    if len(lines) > MAX_CSV_ROWS:
        raise CsvImportError([f"At most {MAX_CSV_ROWS} lines at a time, not {len(lines)}."])
    rows, problems, seen = [], [], {}
    for number, values in lines:
        if len(values) != len(CsvRowForm.base_fields):
            problems.append(f"Line {number}: expected 5 values (isbn,title,author,price,stock), got {len(values)}.")
            continue
        form = CsvRowForm(dict(zip(CsvRowForm.base_fields, (value.strip() for value in values), strict=True)))
        if not form.is_valid():
            problems.extend(f"Line {number}, {name}: {' '.join(errors)}" for name, errors in form.errors.items())
            continue
        row = CsvRow(**form.cleaned_data)
        if row.isbn in seen:
            problems.append(f"Line {number}: ISBN {row.isbn} is already on line {seen[row.isbn]}.")
            continue
        seen[row.isbn] = number
        rows.append(row)
    if problems:
        raise CsvImportError(problems)
    return rows


class CsvImportForm(forms.Form):
    """CSV text; ``cleaned_data["csv"]`` is the list of its rows."""

    csv = forms.CharField(initial=SAMPLE_CSV, widget=forms.Textarea(attrs={"rows": 3, "wrap": "off"}))

    def clean_csv(self) -> list[CsvRow]:
        try:
            return parse_csv(self.cleaned_data["csv"])
        except CsvImportError as error:
            raise forms.ValidationError(error.problems) from error
