from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import operations
from .models import AuditEntry, Author, Book
from .receivers import book_cache_key

SAMPLE_CSV = (
    "978-0-00-000001-1,The Left Hand of Darkness,Ursula Le Guin,10.50,3\n"
    "978-0-00-000010-0,Excession,Iain M. Banks,9.99,5"
)


def _card(book: Book) -> dict[str, Any]:
    """The cached part of a book's row; receivers drop it when exactly that book changes."""
    return cache.get_or_set(book_cache_key(book.pk), lambda: {"cached_at": timezone.now()}, timeout=None)


def index(request: HttpRequest) -> HttpResponse:
    books = list(Book.objects.select_related("author", "category").order_by("title"))
    context = {
        "books": [(book, _card(book)) for book in books],
        "authors": Author.objects.order_by("name"),
        "feed": AuditEntry.objects.select_related("user")[:40],
        "sample_csv": SAMPLE_CSV,
    }
    return render(request, "bookshop/index.html", context)


def feed(request: HttpRequest) -> HttpResponse:
    return render(request, "bookshop/_feed.html", {"feed": AuditEntry.objects.select_related("user")[:40]})


@require_POST
def raise_prices(request: HttpRequest) -> HttpResponse:
    try:
        percent = Decimal(request.POST.get("percent", "10"))
    except InvalidOperation:
        messages.error(request, "The percentage must be a number.")
        return redirect("index")
    count = operations.raise_prices(percent)
    messages.success(request, f"update(): {count} prices raised by {percent}%.")
    return redirect("index")


@require_POST
def restock(request: HttpRequest) -> HttpResponse:
    count = operations.restock(below=int(request.POST.get("below", 3)), amount=int(request.POST.get("amount", 5)))
    messages.success(request, f"bulk_update(): {count} books restocked.")
    return redirect("index")


@require_POST
def import_csv(request: HttpRequest) -> HttpResponse:
    try:
        count = operations.import_csv(request.POST.get("csv", ""))
    except operations.CsvImportError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"bulk_create(update_conflicts=True): {count} rows imported.")
    return redirect("index")


@require_POST
def delete_author(request: HttpRequest) -> HttpResponse:
    author = get_object_or_404(Author, pk=request.POST.get("author"))
    total, per_model = operations.delete_author(author)
    messages.success(
        request, f"delete(): {total} rows removed ({', '.join(f'{n} {m}' for m, n in per_model.items())})."
    )
    return redirect("index")
