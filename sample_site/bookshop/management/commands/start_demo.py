"""Migrate, fill an empty database with demo data, print the demo login, then serve on 127.0.0.1."""

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from sample_site.bookshop.demo import DEMO_PASSWORD, DEMO_USER, add_demo_data, ensure_demo_user


class Command(BaseCommand):
    help = "Start the bookshop sample: migrate, add demo data on the first start, run the server."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args: Any, addrport: str, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if add_demo_data():
            self.stdout.write("Added the demo books.")
        ensure_demo_user()
        self.stdout.write(f"Sign in at http://{addrport}/admin/ as {DEMO_USER} / {DEMO_PASSWORD}")
        call_command("runserver", addrport, use_reloader=False)
