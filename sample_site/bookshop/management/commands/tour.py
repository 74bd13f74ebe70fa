"""A scripted tour of every tracked operation, printing each signal as a receiver sees it.

It migrates first (quietly), so that it also runs on a fresh database.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from bulk_tracker import tracking
from bulk_tracker.helper_objects import ModifiedObject, TrackingInfo
from bulk_tracker.signals import post_create_signal, post_delete_signal, post_update_signal
from sample_site.bookshop import operations
from sample_site.bookshop.demo import add_demo_data
from sample_site.bookshop.models import Author, Book

NAMES = {post_create_signal: "post_create", post_update_signal: "post_update", post_delete_signal: "post_delete"}


class Command(BaseCommand):
    help = "Run every bulk operation on the demo data and print the signals they send."

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        add_demo_data()

        def show(
            sender: type, objects: list[ModifiedObject[Any]], tracking_info_: TrackingInfo | None = None, **kw: Any
        ) -> None:
            why = f"  ({tracking_info_.comment})" if tracking_info_ and tracking_info_.comment else ""
            self.stdout.write(f"  -> {NAMES[kw['signal']]}({sender.__name__}): {len(objects)} row(s){why}")
            for obj in objects:
                self.stdout.write(f"       #{obj.instance.pk} {obj.instance}  {obj.changed_values or ''}")

        for signal in NAMES:
            signal.connect(show, weak=False)
        try:
            self.step(
                "Book.objects.update(price=Round(F('price') * Decimal('1.1'), 2))",
                lambda: operations.raise_prices(Decimal(10)),
            )
            self.step("Book.objects.bulk_update(low_stock, ['stock'])", lambda: operations.restock(below=3, amount=5))
            self.step(
                "Book.objects.bulk_create(rows, update_conflicts=True)  # a CSV import",
                lambda: operations.import_csv(
                    "978-0-00-000002-8,A Wizard of Earthsea,Ursula Le Guin,8.25,9\n"
                    "978-0-00-000099-8,Use of Weapons,Iain M. Banks,12.50,2"
                ),
            )
            book = Book.objects.order_by("pk").first()
            assert book is not None

            def save() -> None:
                book.stock += 1
                with tracking(comment="one sale returned"):
                    book.save()

            self.step("book.save()  # one row, old values from the FieldTracker", save)
            author = Author.objects.get(name="Iain M. Banks")
            self.step(
                "author.delete()  # CASCADE to books, SET_NULL on reviews", lambda: operations.delete_author(author)
            )
        finally:
            for signal in NAMES:
                signal.disconnect(show)

    def step(self, title: str, run: Any) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(title))
        run()
