"""Issue 4's wholesale trading as new users would try it, in a real browser, with a real Celery
matching worker: a provider posts an ask through the instrument page's form, a buyer finds the
instrument on the market, sees the ask in the book and takes half of it; both pages show the fill
through their 2-second live poll without a reload; the buyer sees the contract and the money it
cost (notional + taker fee, exact to the fen), the provider cancels the rest, and a price off the
tick or outside the band is refused next to the price field. A second test makes the same trade
through the REST API with API keys.

The worker and this process talk through a Redis database of their own (not the one in
REDIS_URL): other runs leave matching tasks for their own databases on the shared queues, and
another engineer's worker must neither take ours nor hand us theirs."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from accounts.services import api_key_create
from marketplace.models import Order, OrderStatus
from marketplace.services import instrument_ensure
from settlement.models import Hold
from settlement.selectors import ledger_check_run
from settlement.services import bank_reference_for, bank_transfer_record
from tests.conftest import PASSWORD
from tests.marketplace.conftest import connected_pool, next_week_code

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BROKER_DB = 13  # the worker's and this process's own Redis database (the cache uses 15)
LIVE = 30_000  # ms: a worker round trip plus a poll or two

PRICE = Decimal("12.35")  # on the 0.01 tick, inside the band
HOURS = 168  # a week's window
NOTIONAL = Decimal("16598.40")  # 12.35 × 8 × 168
TAKER_FEE = Decimal("49.80")  # 0.3 % of 16,598.40 = 49.7952, half-up to the fen
FUNDED = Decimal("1000000.00")


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def exchange(make_org, reference_data, operator):
    """A provider with a connected pool of 64 H100 in YRD/MAIN, a funded buyer, next week's H100
    instrument listed (as tests/marketplace's ``market``, which that folder's conftest keeps)."""
    gridco_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    bank_transfer_record(
        actor=operator, reference=bank_reference_for(organisation=acme).code, amount=FUNDED, bank_transaction_id="E1"
    )
    pool = connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-1")
    instrument = instrument_ensure(code=next_week_code())
    assert instrument.window_hours == HOURS and instrument.tick == Decimal("0.01")
    assert instrument.reference_price * Decimal("0.5") <= PRICE <= instrument.reference_price * 3
    yield {"instrument": instrument, "pool": pool, "users": {"gridco": gridco_user, "acme": acme_user},
           "orgs": {"gridco": gridco, "acme": acme}}  # fmt: skip
    report = ledger_check_run(store=False)
    assert report["ok"], report


@pytest.fixture
def matching_worker(exchange, tmp_path, monkeypatch):
    """A real matching worker (``celery worker -Q matching-0,matching-1``) on the test database;
    the live server's acceptances reach it after they commit, as in production."""
    from config.celery import app

    broker = urlunsplit(urlsplit(settings.REDIS_URL)._replace(path=f"/{BROKER_DB}"))
    redis.Redis.from_url(broker).flushdb()
    # Celery reads CELERY_BROKER_URL from the environment before its configuration; the producer
    # pools are built on first use, so they are dropped here and built again for this broker.
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": broker,
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(  # noqa: S603 (our own worker, fixed arguments)
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", "matching-0,matching-1",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", "trading-e2e@%h",
             "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        started = wait_for(lambda: worker.poll() is not None or " ready." in log_path.read_text(), 60)
        assert started and worker.poll() is None, log_path.read_text()[-3000:]
        yield log_path
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)


def sign_in(page, base, user):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def place_order(page, *, side, price, qty):
    """Fill the instrument page's order form and submit it; returns the accepted order's id."""
    page.select_option("#order-form select[name=side]", side)
    page.select_option("#order-form select[name=type]", "limit")
    page.fill("#order-form input[name=price]", str(price))
    page.fill("#order-form input[name=qty]", str(qty))
    page.select_option("#order-form select[name=tif]", "GTC")
    page.click("#order-form button[type=submit]")
    message = page.locator(".messages li", has_text="accepted")
    expect(message).to_be_visible()
    return int(re.search(r"Order #(\d+) accepted", message.inner_text()).group(1))


def own_order(page, order_id):
    """The row of one's own order in the instrument page's table (drawn by the server or the poll)."""
    first_cell = page.locator("td:first-child", has_text=re.compile(rf"^{order_id}$"))
    return page.locator("#own-orders tr").filter(has=first_cell)


def mark_page(page):
    """Set a flag on the page's window: it survives until the page is reloaded or left."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page):
    return page.evaluate("window.__notReloaded === true")


def section(page, title):
    """The table that follows a heading."""
    return page.locator(f"h2:text-is('{title}') + table, h2:text-is('{title}') + div.scroll table")


def money(amount):
    return f"¥{amount:,.2f}"


def test_trade_a_block_in_the_browser(live_server, page, screenshots, exchange, matching_worker):
    base = live_server.url
    instrument = exchange["instrument"]
    code = instrument.code
    price = f"{PRICE:.4f}"

    # 1. The provider posts an ask through the instrument page's form and sees it in its orders
    provider = page
    sign_in(provider, base, exchange["users"]["gridco"])
    provider.goto(f"{base}/market/{code}/")
    expect(provider.locator("h1 code")).to_have_text(code)
    ask_id = place_order(provider, side="sell", price=PRICE, qty=16)
    mark_page(provider)
    ask = own_order(provider, ask_id)
    expect(ask.locator("td")).to_have_text(
        [str(ask_id), "Sell (ask)", price, "16", "0", "Resting on the book", "Cancel"], timeout=LIVE
    )
    expect(provider.locator("#best-ask")).to_have_text(price, timeout=LIVE)
    provider.screenshot(path=screenshots / "trading-1-provider-ask.png", full_page=True)

    # 2. The buyer finds the instrument on the market, opens it, sees the ask in the book, bids
    buyer = provider.context.browser.new_context().new_page()
    sign_in(buyer, base, exchange["users"]["acme"])
    buyer.click("header >> text=Market")  # the shelf (货架); its wholesale windows are also listed on /market/
    expect(buyer).to_have_url(f"{base}/shelf/")
    buyer.goto(f"{base}/market/")
    listed = buyer.locator("tr", has=buyer.locator(f"a:has-text('{code}')"))
    expect(listed.locator("td").nth(5)).to_have_text(price)  # best ask
    buyer.screenshot(path=screenshots / "trading-2-buyer-market.png", full_page=True)
    buyer.click(f"a:has-text('{code}')")
    expect(buyer.locator("#book tr").first.locator("td")).to_have_text(["", "", price, "16"])
    expect(buyer.locator("#depth-chart path.ask")).to_have_count(1)
    expect(buyer.locator("#depth-chart path.bid")).to_have_count(0)
    buyer.screenshot(path=screenshots / "trading-2-buyer-instrument.png", full_page=True)
    bid_id = place_order(buyer, side="buy", price=PRICE, qty=8)

    # 3. Without a reload, the buyer's page shows the bid filled and the trade on the tape
    mark_page(buyer)
    bid = own_order(buyer, bid_id)
    expect(bid.locator("td")).to_have_text([str(bid_id), "Buy (bid)", price, "8", "8", "Filled", ""], timeout=LIVE)
    expect(buyer.locator("#tape tr").first.locator("td").nth(1)).to_have_text(price, timeout=LIVE)
    expect(buyer.locator("#tape tr").first.locator("td").nth(2)).to_have_text("8")
    expect(buyer.locator("#last")).to_have_text(price)
    expect(buyer.locator("#book tr").first.locator("td")).to_have_text(["", "", price, "8"])
    expect(buyer.locator("#price-chart rect")).to_have_count(1)  # the first hourly bar
    assert not_reloaded(buyer)
    buyer.screenshot(path=screenshots / "trading-3-buyer-filled-live.png", full_page=True)

    # 4. The buyer's contract, and the money: the hold captured notional + taker fee
    buyer.click("header >> text=Contracts")
    contract = buyer.locator("main table tbody tr")
    expect(contract).to_have_count(1)
    start, end = (timezone.localtime(t).strftime("%Y-%m-%d %H:%M") for t in (instrument.window_start,
                                                                           instrument.window_end))  # fmt: skip
    expect(contract.locator("td")).to_have_text(
        [re.compile(r"^\d+$"), code, f"{start} – {end}", price, "8", "0", "gridco-1 · GridCo · Shanghai · 8"]
    )
    buyer.screenshot(path=screenshots / "trading-4-buyer-contracts.png", full_page=True)
    buyer.click("header >> text=Funds")
    paid = NOTIONAL + TAKER_FEE
    assert NOTIONAL == (PRICE * 8 * HOURS).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert TAKER_FEE == (NOTIONAL * Decimal("0.003")).quantize(Decimal("0.01"), ROUND_HALF_UP)

    def card(title):
        return buyer.locator(".card", has=buyer.locator(f"h2:text-is('{title}')")).locator(".big")

    expect(card("Prepaid funds")).to_have_text(money(FUNDED - paid))
    expect(card("On hold")).to_have_text(money(0))
    expect(card("Available")).to_have_text(money(FUNDED - paid))
    expect(section(buyer, "Open holds").locator("tbody tr")).to_have_text(["No open holds."])
    statement = section(buyer, "Statement of account").locator("tbody tr")
    # (account, what, amount): the hold set the money aside, the trade took all of it
    expect(statement.locator("td:nth-child(3), td:nth-child(4) code, td:nth-child(6)")).to_have_text(
        ["Funds on hold", "trade.settle", f"{paid:,}",
         "Funds on hold", "hold.place", f"-{paid:,}",
         "Prepaid funds", "hold.place", f"{paid:,}",
         "Prepaid funds", "topup.bank", f"-{FUNDED:,}"]
    )  # fmt: skip
    buyer.screenshot(path=screenshots / "trading-4-buyer-funds.png", full_page=True)

    # 5. The provider's page (never reloaded) shows its ask half filled; it cancels the rest
    expect(ask.locator("td")).to_have_text(
        [str(ask_id), "Sell (ask)", price, "16", "8", "Resting on the book", "Cancel"], timeout=LIVE
    )
    assert not_reloaded(provider)
    provider.screenshot(path=screenshots / "trading-5-provider-partly-filled.png", full_page=True)
    ask.get_by_role("button", name="Cancel").click()
    expect(provider.locator(".messages li")).to_have_text(f"Cancellation of order #{ask_id} requested.")
    expect(ask.locator("td")).to_have_text([str(ask_id), "Sell (ask)", price, "16", "8", "Cancelled", ""], timeout=LIVE)
    expect(provider.locator("#book tr")).to_have_text(["The book is empty."], timeout=LIVE)
    provider.click("header >> text=Orders")
    mine = provider.locator("main table tbody tr")
    expect(mine).to_have_count(1)
    expect(mine.locator("td").nth(6)).to_have_text("8")
    expect(mine.locator("td").nth(8)).to_contain_text("Cancelled")
    provider.screenshot(path=screenshots / "trading-5-provider-cancelled.png", full_page=True)
    assert Order.objects.get(pk=ask_id).status == OrderStatus.CANCELLED

    # 6. Refusals are shown next to the price field, say what the page's facts say, and place nothing
    buyer.goto(f"{base}/market/{code}/")
    facts = buyer.locator("dl.facts")
    expect(facts.locator("dt:text-is('Tick · lot') + dd")).to_have_text("0.0100 · 8 units")
    low, high = re.fullmatch(r"¥(\S+) – ¥(\S+)", facts.locator("dt:text-is('Price band') + dd").inner_text()).groups()
    orders, holds = Order.objects.count(), Hold.objects.count()
    for wrong, reason in (
        ("12.353", re.compile(r"^The price must be a multiple of 0\.01(00)?\.$")),  # the tick, as it is written
        ("1.00", f"The price is outside the band [{low}, {high}] (0.50–3.00 × the reference price)."),
    ):
        buyer.fill("#order-form input[name=price]", wrong)
        buyer.fill("#order-form input[name=qty]", "8")
        buyer.click("#order-form button[type=submit]")
        field = buyer.locator("#order-form .field.has-error")
        expect(field).to_have_count(1)
        expect(field.locator("input[name=price]")).to_have_value(wrong)
        expect(field.locator("input[name=price]")).to_have_attribute("aria-invalid", "true")
        expect(field.locator(".error")).to_have_text(reason)
        expect(buyer.locator("#order-form input[name=qty]")).to_have_value("8")
        expect(buyer.locator(".messages li", has_text="accepted")).to_have_count(0)
        buyer.screenshot(path=screenshots / f"trading-6-refused-{wrong}.png", full_page=True)
    assert (Order.objects.count(), Hold.objects.count()) == (orders, holds)
    buyer.context.close()


def api(base, method, path, token, body=None, key=None):
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if key is not None:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_trade_a_block_through_the_api(live_server, exchange, matching_worker):
    base = live_server.url
    code = exchange["instrument"].code
    tokens = {
        org: api_key_create(actor=exchange["users"][org], organisation=exchange["orgs"][org], name=f"{org}-erp",
                            scopes=["orders:read", "orders:write"])[1]
        for org in ("gridco", "acme")
    }  # fmt: skip
    order = {"instrument": code, "type": "limit", "price": str(PRICE), "tif": "GTC"}

    status, ask = api(base, "POST", "/api/v1/orders/", tokens["gridco"], {**order, "side": "sell", "qty": 16}, "ask-1")
    assert status == 201, ask
    status, bid = api(base, "POST", "/api/v1/orders/", tokens["acme"], {**order, "side": "buy", "qty": 8}, "bid-1")
    assert status == 201, bid
    # a retry with the same Idempotency-Key is the same order
    status, again = api(base, "POST", "/api/v1/orders/", tokens["acme"], {**order, "side": "buy", "qty": 8}, "bid-1")
    assert (status, again["id"]) == (201, bid["id"]), again
    assert Hold.objects.count() == 1

    def read(token, order_id):
        return api(base, "GET", f"/api/v1/orders/{order_id}/", token)[1]

    def worker_log():
        return matching_worker.read_text()[-3000:]

    assert wait_for(lambda: read(tokens["acme"], bid["id"]).get("status") == "filled", LIVE / 1000), worker_log()
    filled = read(tokens["acme"], bid["id"])
    assert (filled["filled_qty"], filled["remaining"], filled["hold_id"] is not None) == (8, 0, True)
    assert [(f["price"], f["qty"], f["role"], f["fee"], f["notional"]) for f in filled["fills"]] == [
        (f"{PRICE:.4f}", 8, "taker", str(TAKER_FEE), f"{NOTIONAL:.6f}")
    ]
    status, contracts = api(base, "GET", "/api/v1/contracts/", tokens["acme"])
    assert status == 200, contracts
    assert [(c["instrument"], c["qty"], c["price"], c["held"], [(leg["pool"], leg["units"]) for leg in c["legs"]])
            for c in contracts["results"]] == [(code, 8, f"{PRICE:.4f}", 8, [("gridco-1", 8)])]  # fmt: skip

    status, _ = api(base, "POST", f"/api/v1/orders/{ask['id']}/cancel/", tokens["gridco"])
    assert status == 202
    assert wait_for(lambda: read(tokens["gridco"], ask["id"]).get("status") == "cancelled", LIVE / 1000), worker_log()
    assert read(tokens["gridco"], ask["id"])["filled_qty"] == 8
