"""Issue 6's buyer journey, end to end as a new user would walk it, in a real browser with a real
matching worker and Stripe's API played by localstripe: sign up and confirm the address, create
the organisation, try the site in Chinese, top up by card, buy a block on the book against a
provider's resting ask, see the fill without a reload, reserve retail capacity after an exact
quote, see the pool's machines' usage, and download the month's invoice as a PDF.

What the hourly task does (complete the reservations, issue the month's invoices) is called from
here with an explicit ``now`` after the month's end, as tests/e2e/test_billing_journey.py does.
Bilingual screenshots of every main page are kept as buyer-NN-*.png."""

import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from catalog.services import pool_key_create
from marketplace.models import Order, OrderStatus
from marketplace.services import instrument_ensure, listing_create, order_place, reservations_complete
from marketplace.services.listings import ListingTerms
from marketplace.services.orders import OrderTerms
from settlement.models import Invoice
from settlement.selectors import ledger_check_run
from settlement.services.invoices import invoices_issue_due, period_bounds, period_of
from tests.e2e.conftest import wait_for
from tests.e2e.steps import (
    LIVE,
    api_post,
    create_organisation,
    form_with,
    local_minute,
    mark_page,
    messages,
    next_minutes,
    not_reloaded,
    order_row,
    pdf_text,
    place_order,
    row_with_cell,
    sign_in,
    sign_up,
    yuan,
)
from tests.marketplace.conftest import connected_pool, next_week_code

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

EMAIL, PASSWORD = "ops@qiming.test", "a-long-pass-phrase-42"
TOP_UP = Decimal("20000.00")
PRICE, LOT = Decimal("12.35"), 8  # on the 0.01 tick, inside the band; one lot
HOURS = 168
BUY_HOLD = Decimal("16648.20")  # 12.35 × 8 × 168 = 16,598.40 + the 0.3 % taker fee 49.80
VOLUME_PRICE, UNITS, MINUTES = Decimal("21.36"), 8, 60
VOLUME_HOLD = Decimal("256.32")  # 21.36 × 8 units × 60 min at the peak rate (× 1.50)


@pytest.fixture
def provider_side(make_org, reference_data, operator):
    """GridCo: a connected pool of 64 H100 in YRD/MAIN, a machine key, 16 units listed per volume;
    next week's H100 instrument listed (its ask is placed once the worker runs)."""
    user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    pool = connected_pool(user=user, organisation=gridco, operator=operator, code="gridco-1")
    _, key = pool_key_create(actor=user, organisation=gridco, pool_id=pool.pk, name="rack-2")
    now = next_minutes(0)
    listing = listing_create(
        actor=user, organisation=gridco,
        terms=ListingTerms(pool_id=pool.pk, resource_class="H100-80G", units=16, price=VOLUME_PRICE,
                           billing="per_volume", minimum_minutes=1, available_from=now,
                           available_until=now + timedelta(days=2)),
    )  # fmt: skip
    instrument = instrument_ensure(code=next_week_code())
    assert instrument.window_hours == HOURS
    yield {"user": user, "org": gridco, "pool": pool, "key": key, "listing": listing, "instrument": instrument}
    report = ledger_check_run(store=False)
    assert report["ok"], report


def test_buyer_signs_up_tops_up_buys_reserves_and_downloads_the_invoice(
    live_server, page, shoot, provider_side, localstripe, matching_worker
):
    base = live_server.url
    code = provider_side["instrument"].code
    price = f"{PRICE:.4f}"

    # GridCo's ask rests on the book (placed as its trading system would, through the service)
    ask = order_place(
        actor=provider_side["user"], organisation=provider_side["org"],
        terms=OrderTerms(instrument=code, side="sell", type="limit", qty=2 * LOT, tif="GTC", price=PRICE),
        idempotency_key="gridco-ask-1",
    )  # fmt: skip
    assert wait_for(lambda: Order.objects.get(pk=ask.pk).status == OrderStatus.OPEN, LIVE / 1000), (
        matching_worker.read_text()[-3000:]
    )

    # 1. Sign up, confirm the address from the e-mail, sign in
    page.goto(f"{base}/")
    shoot(page, "buyer-01-home")
    sign_up(page, base, email=EMAIL, password=PASSWORD)
    sign_in(page, base, email=EMAIL, password=PASSWORD)

    # 2. The organisation; the site in Chinese through the language menu, and back
    create_organisation(page, base, name="Qiming AI", buyer=True, provider=False)
    page.get_by_label("Language").select_option("zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("main")).to_contain_text("买方")  # the buyer tag, translated
    page.locator("select[name=language]").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shoot(page, "buyer-02-dashboard")

    # 3. Top up by card (Stripe test mode against localstripe)
    page.goto(f"{base}/funds/")
    shoot(page, "buyer-03-funds-empty")
    top_up = form_with(page, "Pay")
    top_up.locator("input[name=amount]").fill(str(TOP_UP))
    top_up.locator("select[name=payment_method]").select_option("pm_card_visa")
    top_up.get_by_role("button", name="Pay").click()
    expect(messages(page)).to_have_text([yuan(TOP_UP)])  # "Card payment received: ¥20000.00."
    expect(page.locator("main")).to_contain_text(re.compile(r"succeeded", re.I))
    shoot(page, "buyer-04-funds-topped-up")

    # 4. The market; the instrument shows GridCo's ask; the buyer takes one lot on the book
    page.goto(f"{base}/market/")
    expect(page.get_by_role("link", name=code)).to_be_visible()
    shoot(page, "buyer-05-market")
    page.get_by_role("link", name=code).click()
    expect(page).to_have_url(re.compile(rf"/market/{code}/$"))
    expect(page.locator("main")).to_contain_text(price)
    shoot(page, "buyer-06-instrument")
    bid_id = place_order(page, side="buy", price=PRICE, qty=LOT)

    # 5. The fill arrives without a reload (the page's live poll), then on "My orders"
    mark_page(page)
    bid = order_row(page, bid_id)
    expect(bid).to_contain_text("Filled", timeout=LIVE)
    assert not_reloaded(page)
    shoot(page, "buyer-07-instrument-filled", guide_at="#own-orders")
    page.goto(f"{base}/orders/")
    mine = order_row(page, bid_id)
    expect(mine).to_contain_text("Filled")
    expect(mine).to_contain_text(code)
    shoot(page, "buyer-08-orders")
    page.goto(f"{base}/contracts/")
    expect(page.locator("main")).to_contain_text(code)
    shoot(page, "buyer-09-contracts")
    # the statement of account settles the matching batch in one line per account; its source
    # leads to the batch's trades that were the buyer's: this one fill
    page.goto(f"{base}/funds/")
    page.locator("main a[href*='/fills/?batch=match']").first.click()
    expect(page).to_have_url(re.compile(r"/fills/\?batch=match%3A\d+%3A\d+-\d+$"))
    expect(page.locator("#fills tbody tr")).to_have_count(1)
    expect(page.locator("#fills tbody tr")).to_contain_text(code)
    assert BUY_HOLD == (PRICE * LOT * HOURS * Decimal("1.003")).quantize(Decimal("0.01"), ROUND_HALF_UP)

    # 6. Retail: the shelf, the listing, the exact quote, the confirmation
    listing = provider_side["listing"]
    page.goto(f"{base}/retail/")
    shoot(page, "buyer-10-retail")
    page.locator(f"main a[href$='/retail/{listing.pk}/']").first.click()
    start = next_minutes(2)
    end = start + timedelta(minutes=MINUTES)
    form = page.locator("form", has=page.locator("input[name=units]"))
    form.locator("input[name=units]").fill(str(UNITS))
    form.locator("input[name=start]").fill(local_minute(start))
    form.locator("input[name=end]").fill(local_minute(end))
    form.get_by_role("button", name="Quote").click()
    expect(page.get_by_role("button", name="Confirm reservation")).to_be_visible()
    expect(page.locator("main")).to_contain_text(yuan(VOLUME_HOLD))  # at most, all at the peak rate
    expect(page.locator("main")).to_contain_text("¥32.0400")  # the peak price per unit-hour (21.36 × 1.50)
    again = lambda other: _quote_again(other, base, listing.pk, start, end)  # noqa: E731
    shoot(page, "buyer-11-quote", guide_at="#quote", redo=again)
    page.get_by_role("button", name="Confirm reservation").click()
    confirmed = messages(page).filter(has_text="confirmed")
    expect(confirmed).to_contain_text(str(VOLUME_HOLD))
    reservation_id = int(re.search(r"#(\d+)", confirmed.inner_text()).group(1))
    expect(page).to_have_url(f"{base}/reservations/")

    # 7. The pool's machine reports the first minute of use through the API with its pool key
    half = start + timedelta(seconds=30)
    records = [
        {"record_id": "rack-2/0001", "reservation": reservation_id, "meter": "gpu_seconds", "quantity": "240",
         "start": start.isoformat(), "end": half.isoformat()},
        {"record_id": "rack-2/0002", "reservation": reservation_id, "meter": "gpu_seconds", "quantity": "120",
         "start": half.isoformat(), "end": (start + timedelta(minutes=1)).isoformat()},
    ]  # fmt: skip
    status, body = api_post(base, "/api/v1/usage/", provider_side["key"], {"records": records})
    assert (status, body["accepted"]) == (200, 2), body
    page.reload()
    expect(row_with_cell(page, str(reservation_id))).to_contain_text(re.compile(r"\b0\.10*\b"))  # 360 GPU-s
    shoot(page, "buyer-12-reservations-usage")

    # 8. The month ends: the hourly task issues the invoice, paid from the prepaid funds
    after_month = period_bounds(period_of(start))[1] + timedelta(hours=1)
    assert reservations_complete(now=after_month) == 1
    invoices_issue_due(now=after_month)
    invoice = Invoice.objects.get(organisation__name="Qiming AI", period=period_of(start))
    page.goto(f"{base}/invoices/")
    shoot(page, "buyer-13-invoices")
    page.get_by_role("link", name=invoice.number).click()
    expect(page.locator("h1")).to_contain_text(invoice.number)
    expect(page.locator("main")).to_contain_text(yuan(invoice.total))
    shoot(page, "buyer-14-invoice")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    pdf = download.value.path()
    assert Path(pdf).read_bytes().startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert invoice.number in text and "Qiming AI" in text, text
    assert re.search(yuan(invoice.total).pattern.replace("¥", "¥?"), text), (invoice.total, text)

    # 9. The money: what is left after the block, the reservation and the invoice
    page.goto(f"{base}/funds/")
    shoot(page, "buyer-15-funds-after")


def _quote_again(page, base, listing_id, start, end):
    """The quote is the answer to a POST: the other language's page asks for it the same way."""
    page.goto(f"{base}/retail/{listing_id}/")
    form = page.locator("form", has=page.locator("input[name=units]"))
    form.locator("input[name=units]").fill(str(UNITS))
    form.locator("input[name=start]").fill(local_minute(start))
    form.locator("input[name=end]").fill(local_minute(end))
    form.locator("button[name=quote]").click()
    expect(page.locator("button[name=confirm]")).to_be_visible()
