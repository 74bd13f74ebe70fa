from decimal import Decimal

from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from bulk_tracker import tracking

from .models import AuditEntry, Book


def index(request: HttpRequest) -> HttpResponse:
    context = {
        "books": Book.objects.select_related("author").order_by("title"),
        "feed": AuditEntry.objects.select_related("user")[:30],
    }
    return render(request, "bookshop/index.html", context)


@require_POST
def raise_prices(request: HttpRequest) -> HttpResponse:
    percent = Decimal(request.POST.get("percent") or "10")
    with tracking(comment=f"raise prices by {percent}%"):
        Book.objects.update(price=F("price") * (1 + percent / 100))
    return redirect("index")
