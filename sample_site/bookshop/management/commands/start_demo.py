"""Migrate, fill an empty database with demo data, print the demo login, then serve on 127.0.0.1."""

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from bulk_tracker import suspended
from sample_site.bookshop.models import Author, Book

DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"


class Command(BaseCommand):
    help = "Start the bookshop sample: migrate, add demo data on first start, run the server."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args: Any, addrport: str, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not Author.objects.exists():
            with suspended():  # demo data is not news
                authors = Author.objects.bulk_create([Author(name=n) for n in ("Ursula Le Guin", "Iain M. Banks")])
                Book.objects.bulk_create(
                    [
                        Book(title="A Wizard of Earthsea", author=authors[0], price=Decimal("9.50"), stock=4),
                        Book(title="The Dispossessed", author=authors[0], price=Decimal("12.00"), stock=2),
                        Book(title="Consider Phlebas", author=authors[1], price=Decimal("11.25"), stock=0),
                    ]
                )
        users = get_user_model()
        if not users.objects.filter(username=DEMO_USER).exists():
            users.objects.create_superuser(DEMO_USER, "demo@example.com", DEMO_PASSWORD)
        self.stdout.write(f"Demo login for /admin/: {DEMO_USER} / {DEMO_PASSWORD}")
        call_command("runserver", addrport, use_reloader=False)
