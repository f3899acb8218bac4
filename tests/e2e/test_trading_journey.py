"""Issue 4's wholesale trading as new users would try it, in a real browser, with a real Celery
matching worker: a provider posts an ask through the instrument page's form, a buyer finds the
instrument on the market, sees the ask in the book and takes half of it; both pages show the fill
through their live feeds without a reload (here by their 2-second timer: the live server is WSGI
with push off; tests/e2e/test_live_push_journey.py covers the push); the buyer sees the contract
and the money it cost (notional + taker fee, exact to the fen), the provider cancels the rest,
and a price off the tick or outside the band is refused next to the price field. A second test makes the same trade
through the REST API with API keys.

The matching worker is tests/e2e/conftest.py's (a Redis database of its own); the screenshots are
bilingual (``shoot``)."""

import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.services import api_key_create
from marketplace.models import Order, OrderStatus
from settlement.models import Hold
from tests.e2e.conftest import FUNDED, HOURS, PRICE, VIEWPORT, wait_for
from tests.e2e.steps import api, sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

LIVE = 30_000  # ms: a worker round trip plus a poll or two

NOTIONAL = Decimal("16598.40")  # 12.35 × 8 × 168
TAKER_FEE = Decimal("49.80")  # 0.3 % of 16,598.40 = 49.7952, half-up to the fen


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
    """As the pages write an amount: ¥ with thousands separators, a negative with a minus sign."""
    return f"{'−' if amount < 0 else ''}¥{abs(amount):,.2f}"


def test_trade_a_block_in_the_browser(live_server, page, shoot, exchange, matching_worker):
    base = live_server.url
    instrument = exchange["instrument"]
    code = instrument.code
    price = f"¥{PRICE:,.4f}"  # as the pages write a price

    # 1. The provider posts an ask through the instrument page's form and sees it in its orders
    provider = page
    sign_in(provider, base, email=exchange["users"]["gridco"].email)
    provider.goto(f"{base}/market/{code}/")
    expect(provider.locator("h1 code")).to_have_text(code)
    ask_id = place_order(provider, side="sell", price=PRICE, qty=16)
    mark_page(provider)
    ask = own_order(provider, ask_id)
    expect(ask.locator("td")).to_have_text(
        [str(ask_id), "Sell (ask)", price, "16", "0", "Resting on the book", "Cancel"], timeout=LIVE
    )
    expect(provider.locator("#best-ask")).to_have_text(price, timeout=LIVE)
    shoot(provider, "trading-1-provider-ask")

    # 2. The buyer finds the instrument on the market, opens it, sees the ask in the book, bids
    buyer = provider.context.browser.new_context(viewport=VIEWPORT).new_page()
    sign_in(buyer, base, email=exchange["users"]["acme"].email)
    buyer.click("header >> text=Market")  # the shelf (货架); its wholesale windows are also listed on /market/
    expect(buyer).to_have_url(f"{base}/shelf/")
    buyer.goto(f"{base}/market/")
    listed = buyer.locator("tr", has=buyer.locator(f"a:has-text('{code}')"))
    expect(listed.locator("td").nth(5)).to_have_text(price)  # best ask
    shoot(buyer, "trading-2-buyer-market")
    buyer.click(f"a:has-text('{code}')")
    expect(buyer.locator("#book tr").first.locator("td")).to_have_text(["", "", price, "16"])
    expect(buyer.locator("#depth-chart path.ask")).to_have_count(1)
    expect(buyer.locator("#depth-chart path.bid")).to_have_count(0)
    shoot(buyer, "trading-2-buyer-instrument")
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
    shoot(buyer, "trading-3-buyer-filled-live")

    # 4. The buyer's contract, and the money: the hold captured notional + taker fee
    buyer.click("header >> text=Contracts")
    contract = buyer.locator("main table tbody tr")
    expect(contract).to_have_count(1)
    start, end = (timezone.localtime(t).strftime("%Y-%m-%d %H:%M") for t in (instrument.window_start,
                                                                           instrument.window_end))  # fmt: skip
    expect(contract.locator("td")).to_have_text(
        [re.compile(r"^\d+$"), code, f"{start} – {end}", price, "8", "0", "gridco-1 · GridCo · Shanghai · 8"]
    )
    shoot(buyer, "trading-4-buyer-contracts")
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
        ["Funds on hold", "trade.settle", money(paid),
         "Funds on hold", "hold.place", money(-paid),
         "Prepaid funds", "hold.place", money(paid),
         "Prepaid funds", "topup.bank", money(-FUNDED)]
    )  # fmt: skip
    shoot(buyer, "trading-4-buyer-funds")

    # 5. The provider's page (never reloaded) shows its ask half filled; it cancels the rest
    expect(ask.locator("td")).to_have_text(
        [str(ask_id), "Sell (ask)", price, "16", "8", "Resting on the book", "Cancel"], timeout=LIVE
    )
    assert not_reloaded(provider)
    shoot(provider, "trading-5-provider-partly-filled")
    ask.get_by_role("button", name="Cancel").click()
    expect(provider.locator(".messages li")).to_have_text(f"Cancellation of order #{ask_id} requested.")
    expect(ask.locator("td")).to_have_text([str(ask_id), "Sell (ask)", price, "16", "8", "Cancelled", ""], timeout=LIVE)
    expect(provider.locator("#book tr")).to_have_text(["The book is empty."], timeout=LIVE)
    provider.click("header >> text=Orders")
    mine = provider.locator("main table tbody tr:not([data-fill])")  # the orders, not the recent fills below
    expect(mine).to_have_count(1)
    expect(mine.locator("td").nth(6)).to_have_text("8")
    expect(mine.locator("td").nth(8)).to_contain_text("Cancelled")
    shoot(provider, "trading-5-provider-cancelled")
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
        again = lambda other, wrong=wrong: refuse_again(other, base, code, wrong)  # noqa: E731
        shoot(buyer, f"trading-6-refused-{wrong}", redo=again)
    assert (Order.objects.count(), Hold.objects.count()) == (orders, holds)
    buyer.context.close()


def refuse_again(page, base, code, wrong):
    """The refusal is the answer to a POST: the other language's page is refused the same way."""
    page.goto(f"{base}/market/{code}/")
    page.fill("#order-form input[name=price]", wrong)
    page.fill("#order-form input[name=qty]", "8")
    page.click("#order-form button[type=submit]")
    expect(page.locator("#order-form .field.has-error")).to_have_count(1)


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
