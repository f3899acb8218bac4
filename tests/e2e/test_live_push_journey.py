"""Issue 4: an order's state and fills are pushed to the web page. A provider watches its orders
page in a real browser while a buyer's order, matched by a real Celery worker, fills its ask: the
worker publishes the change, the page's event stream (/live/events) hears it and the row shows
the fill without a reload, sooner than the page's timer would have looked again.

The live server starts a thread per connection, as runserver does, so the stream is served under
WSGI here (``LIVE_PUSH_UNDER_WSGI``); under ASGI it always is (tests/marketplace/test_live_push.py
runs that path)."""

import pytest
from playwright.sync_api import expect

from marketplace.services import OrderTerms, order_place
from tests.e2e.conftest import PRICE
from tests.e2e.steps import sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def place(exchange, org, side, qty, key):
    terms = OrderTerms(instrument=exchange["instrument"].code, side=side, type="limit", qty=qty, tif="GTC",
                       price=PRICE)  # fmt: skip
    return order_place(actor=exchange["users"][org], organisation=exchange["orgs"][org], terms=terms,
                       idempotency_key=key)  # fmt: skip


def pushed_after_first_look(page, looks: list) -> None:
    """The page follows the event stream, and its timer has made its first look (2 s after the
    page loaded): with the stream open the next is 15 s away, so what shows within 8 s of an
    order came by the stream."""
    expect(page.locator("html")).to_have_attribute("data-live", "push", timeout=10_000)
    for _ in range(100):
        if looks:
            return
        page.wait_for_timeout(100)
    raise AssertionError("the page never looked again")


def test_a_fill_is_pushed_to_the_providers_orders_page(live_server, page, exchange, matching_worker, settings):
    settings.LIVE_PUSH_UNDER_WSGI = True
    base = live_server.url
    ask = place(exchange, "gridco", "sell", 16, "push-ask")
    sign_in(page, base, email=exchange["users"]["gridco"].email)
    looks = []  # the page's fetches of its live feed
    page.on("requestfinished", lambda r: looks.append(r.url) if "/orders/live.json" in r.url else None)
    page.goto(f"{base}/orders/")
    row = page.locator(f"tr[data-order='{ask.pk}']")
    expect(row.locator("[data-field='status']")).to_have_text("Resting on the book", timeout=30_000)

    pushed_after_first_look(page, looks)
    place(exchange, "acme", "buy", 8, "push-bid")
    expect(row.locator("[data-field='filled']")).to_have_text("8", timeout=8_000)
    expect(page.locator("#fills tr[data-fill]")).to_have_count(1)


def test_a_fill_is_pushed_to_the_buyers_fills_page(live_server, page, exchange, matching_worker, settings):
    settings.LIVE_PUSH_UNDER_WSGI = True
    base = live_server.url
    sign_in(page, base, email=exchange["users"]["acme"].email)
    looks = []  # the page's fetches of itself

    def looked(request):
        if request.url.endswith("/fills/") and request.resource_type == "fetch":
            looks.append(request.url)

    page.on("requestfinished", looked)
    page.goto(f"{base}/fills/")
    expect(page.locator("#fills td.empty")).to_be_visible()
    pushed_after_first_look(page, looks)
    place(exchange, "gridco", "sell", 16, "fills-ask")
    bid = place(exchange, "acme", "buy", 8, "fills-bid")
    row = page.locator("#fills tr[data-fill]")
    expect(row).to_have_count(1, timeout=8_000)
    expect(row).to_have_class("flash")
    expect(row.locator("td").nth(8)).to_have_text(str(bid.pk))  # the buyer's own order
    expect(page.locator("#fills-announce")).to_have_text("New fills: 1.")
