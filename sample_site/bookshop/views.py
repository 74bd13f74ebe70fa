"""The page and its buttons. Every input goes through a form: bad input re-renders the page with the errors (400)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import operations
from .forms import CsvImportForm, DeleteAuthorForm, RaisePricesForm, RestockForm
from .models import AuditEntry, Author, Book
from .receivers import StockLimitError, book_cache_key, was_price_key


def _card(book: Book) -> dict[str, Any]:
    """The cached part of a book's row (receivers drop it when exactly that book changes), and its old price."""
    card = cache.get_or_set(book_cache_key(book.pk), lambda: {"cached_at": timezone.now()}, timeout=None)
    return {**card, "was": cache.get(was_price_key(book.pk))}


def _page(request: HttpRequest, invalid: forms.Form | None = None) -> HttpResponse:
    """The page with fresh forms, or with ``invalid`` (a bound form with errors) in its place and status 400."""
    page_forms: dict[str, forms.Form] = {
        "raise_prices": RaisePricesForm(),
        "restock": RestockForm(),
        "import_csv": CsvImportForm(),
        "delete_author": DeleteAuthorForm(),
    }
    if invalid is not None:
        page_forms = {name: invalid if type(form) is type(invalid) else form for name, form in page_forms.items()}
    books = list(Book.objects.select_related("author", "category").order_by("title"))
    context = {
        "books": [(book, _card(book)) for book in books],
        "authors": Author.objects.order_by("name"),
        "feed": AuditEntry.objects.select_related("user")[:40],
        "forms": page_forms,
    }
    return render(request, "bookshop/index.html", context, status=200 if invalid is None else 400)


def index(request: HttpRequest) -> HttpResponse:
    return _page(request)


def feed(request: HttpRequest) -> HttpResponse:
    return render(request, "bookshop/_feed.html", {"feed": AuditEntry.objects.select_related("user")[:40]})


@require_POST
def raise_prices(request: HttpRequest) -> HttpResponse:
    form = RaisePricesForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    percent = form.cleaned_data["percent"]
    try:
        count = operations.raise_prices(percent)
    except operations.PriceRangeError as error:
        form.add_error("percent", str(error))
        return _page(request, form)
    change = f"raised by {percent}%" if percent >= 0 else f"lowered by {-percent}%"
    messages.success(request, f"update(): {count} prices {change}.")
    return redirect("index")


@require_POST
def restock(request: HttpRequest) -> HttpResponse:
    form = RestockForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    try:
        count = operations.restock(below=form.cleaned_data["below"], amount=form.cleaned_data["amount"])
    except StockLimitError as error:  # vetoed by a pre_update_signal receiver
        form.add_error("amount", str(error))
        return _page(request, form)
    messages.success(request, f"bulk_update(): {count} books restocked.")
    return redirect("index")


@require_POST
def import_csv(request: HttpRequest) -> HttpResponse:
    form = CsvImportForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    count = operations.import_books(form.cleaned_data["csv"])
    messages.success(request, f"bulk_create(update_conflicts=True): {count} rows imported.")
    return redirect("index")


@require_POST
def delete_author(request: HttpRequest) -> HttpResponse:
    form = DeleteAuthorForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    total, per_model = operations.delete_author(form.cleaned_data["author"])
    messages.success(
        request, f"delete(): {total} rows removed ({', '.join(f'{n} {m}' for m, n in per_model.items())})."
    )
    return redirect("index")
