"""The page in a real headless browser: Playwright's Python API driving Debian's chromium (never a downloaded one).

Locally the test skips when the ``playwright`` package or ``/usr/bin/chromium`` is missing; under ``CI=true`` a
missing browser fails instead. ``BOOKSHOP_SCREENSHOT=docs/bookshop.png`` also saves a screenshot of the page.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection

from bulk_tracker import tracking
from sample_site.bookshop.demo import add_demo_data
from sample_site.bookshop.models import Author, Book

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 5_000  # every wait of the test: a click, a page load, an entry in the feed
FEED_WAIT_MS = 6_000  # the page refreshes its feed every 2 s


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the end-to-end test cannot run: {reason}", pytrace=False)
    pytest.skip(f"end-to-end browser test skipped: {reason}")


@pytest.fixture
def sync_api() -> Any:
    if os.environ.get("BULK_TRACKER_E2E") == "0":
        pytest.skip("end-to-end browser test switched off here (BULK_TRACKER_E2E=0; it runs with the newest Django)")
    try:
        from playwright import sync_api
    except ImportError:
        _missing("the `playwright` package is not installed (it is a dependency of the hatch test environments)")
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"no browser at {CHROMIUM} (apt-get install chromium; never `playwright install`)")
    return sync_api


@pytest.fixture
def shop(transactional_db: None, django_user_model: Any) -> None:
    add_demo_data()
    django_user_model.objects.create_user("clerk", password="clerk-password", is_staff=True)
    cache.clear()


def entry(feed: Any, name: str, comment: str, operation: str = "update", model: str = "Book") -> Any:
    """The feed's entry for the row called ``name``, written by the operation commented ``comment``."""
    return feed.locator(f"li.{operation}[data-model={model}]").filter(has_text=name).filter(has_text=comment)


def change_stock_elsewhere(title: str, stock: int) -> None:
    """An ORM call from inside the ``sync_playwright()`` block, as another process would make it.

    Inside that block Django keeps a separate connection (its connections are per asyncio context): close it, or
    PostgreSQL refuses to drop the test database at the end of the run ("being accessed by other users").
    """
    try:
        with tracking(comment="a change made elsewhere"):
            Book.objects.filter(title=title).update(stock=stock)
    finally:
        connection.close()


def test_buttons_fill_the_change_feed(sync_api: Any, shop: None, live_server: Any, monkeypatch: Any) -> None:
    # Playwright's sync API runs an asyncio loop in this thread: Django refuses ORM calls made inside the
    # `with sync_playwright()` block (SynchronousOnlyOperation) unless told that this synchronous access is fine.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    expect = sync_api.expect
    expect.set_options(timeout=WAIT_MS)
    banks_books = list(Book.objects.filter(author__name="Iain M. Banks").values_list("pk", flat=True))
    started = time.monotonic()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=15_000
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(WAIT_MS)
            page.set_default_navigation_timeout(WAIT_MS)

            # Sign in through the admin's form, so that the feed names the user who pressed the buttons.
            page.goto(f"{live_server.url}/admin/login/?next=/")
            page.fill("#id_username", "clerk")
            page.fill("#id_password", "clerk-password")
            page.click("input[type=submit]")
            expect(page.locator("header")).to_contain_text("signed in as clerk")
            feed = page.locator("#feed")
            expect(feed.locator("li.empty")).to_have_text("No changes yet: press a button.")

            # update(price=F(...)): every book's price, 10% up.
            page.fill("#raise-prices input[name=percent]", "10")
            page.click("#raise-prices button")
            expect(page.locator(".messages li")).to_have_text("update(): 6 prices raised by 10%.")
            expect(feed.locator("li.update[data-model=Book]")).to_have_count(6, timeout=FEED_WAIT_MS)
            left_hand = entry(feed, "The Left Hand of Darkness", "raise prices by 10%")
            expect(left_hand.locator(".op")).to_have_text("update")
            expect(left_hand.locator(".row")).to_contain_text("Book #")
            expect(left_hand.locator(".changes")).to_have_text("price 9.50 → 10.45")
            expect(left_hand.locator(".who")).to_have_text("clerk · raise prices by 10%")
            expect(page.locator("#books tr", has_text="Piranesi")).to_contain_text("15.84")

            # bulk_update(): only the three books with fewer than 3 copies, 5 more each.
            page.click("#restock button")
            expect(page.locator(".messages li")).to_have_text("bulk_update(): 3 books restocked.")
            restock = "restock 5 where fewer than 3"
            expect(feed.locator("li", has_text=restock)).to_have_count(3, timeout=FEED_WAIT_MS)
            for title, change in [
                ("Consider Phlebas", "0 → 5"),
                ("The Dispossessed", "1 → 6"),
                ("A Wizard of Earthsea", "2 → 7"),
            ]:
                restocked = entry(feed, title, restock)
                expect(restocked.locator(".changes")).to_have_text(f"stock {change}")
                expect(restocked.locator(".who")).to_have_text(f"clerk · {restock}")
            expect(feed.locator("li.event")).to_have_count(9)
            screenshot = os.environ.get("BOOKSHOP_SCREENSHOT")
            if screenshot:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=screenshot)

            # delete() + CASCADE: the author, their two books, and SET_NULL on those books' reviews.
            page.select_option("#delete-author select", label="Iain M. Banks (2 books)")
            page.click("#delete-author button")
            expect(page.locator(".messages li")).to_contain_text("delete(): ")
            gone = "delete Iain M. Banks and their books"
            expect(feed.locator("li", has_text=gone)).to_have_count(5, timeout=FEED_WAIT_MS)
            for model, name in [
                ("Author", "Iain M. Banks"),
                ("Book", "Consider Phlebas"),
                ("Book", "The Player of Games"),
            ]:
                expect(entry(feed, name, gone, operation="delete", model=model)).to_have_count(1)
            unlinked = feed.locator("li.update[data-model=Review]", has_text=gone)
            for pk in banks_books:
                expect(unlinked.locator(".changes", has_text=re.compile(rf"^book_id {pk} → —$"))).to_have_count(1)
            expect(page.locator("#books")).not_to_contain_text("Iain M. Banks")
            expect(page.locator("#authors tr", has_text="Ursula Le Guin")).to_contain_text("3")

            # A change made elsewhere (here, by the test) reaches the open page through the 2 s refresh.
            change_stock_elsewhere("Piranesi", 9)
            elsewhere = feed.locator("li", has_text="a change made elsewhere")
            expect(elsewhere.locator(".changes")).to_have_text("stock 3 → 9", timeout=FEED_WAIT_MS)
            expect(elsewhere.locator(".who")).to_have_text("anonymous · a change made elsewhere")
        finally:
            browser.close()
    assert time.monotonic() - started < 60
    assert list(Author.objects.order_by("name").values_list("name", "book_count")) == [
        ("Susanna Clarke", 1),
        ("Ursula Le Guin", 3),
    ]
