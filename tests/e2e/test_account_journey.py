"""My account in a real browser: the overview, the orders page updating live (a fill shows without
a reload, highlighted and announced), the usage page, the site on a phone (no sideways scrolling,
the menu behind a button) and with the keyboard only (the skip link first, then the menu).
Screenshots of the overview, orders and usage pages in English and Chinese.

The matching worker is not started: the test process calls ``instrument_match``, the service
the worker's task calls, after the browser has placed the order — no Redis needed."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from marketplace.models import Billing
from marketplace.services import (
    ListingTerms,
    OrderTerms,
    ReservationTerms,
    books_forget,
    instrument_ensure,
    instrument_match,
    listing_create,
    order_place,
    reservation_place,
)
from settlement.selectors import ledger_check_run
from settlement.services import bank_reference_for, bank_transfer_record, usage_ingest
from settlement.services.invoices import period_bounds, period_of
from tests.e2e.steps import sign_in
from tests.marketplace.conftest import connected_pool, next_week_code

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LIVE = 10_000  # ms: the orders page polls every 2 s
PHONE = {"width": 390, "height": 844}
PRICE = Decimal("12.00")


@pytest.fixture
def account(make_org, reference_data, operator):
    """GridCo with a connected pool of 64 H100 in YRD/MAIN and an ask of 16 on next week's
    instrument; Acme with ¥50,000 prepaid and an hour of per-volume use already metered."""
    books_forget()
    gridco_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    bank_transfer_record(actor=operator, reference=bank_reference_for(organisation=acme).code,
                         amount=Decimal("50000.00"), bank_transaction_id="E1")  # fmt: skip
    pool = connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-1")
    instrument = instrument_ensure(code=next_week_code())
    ask = order_place(
        actor=gridco_user, organisation=gridco, idempotency_key="ask",
        terms=OrderTerms(instrument=instrument.code, side="sell", type="limit", qty=16, tif="GTC", price=PRICE),
    )  # fmt: skip
    instrument_match(instrument_id=instrument.pk)  # the ask rests on the book
    now = timezone.now()
    listing = listing_create(actor=gridco_user, organisation=gridco, terms=ListingTerms(
        pool_id=pool.pk, resource_class="H100-80G", units=8, price=Decimal("21.36"), billing=Billing.PER_VOLUME,
        minimum_minutes=1, available_from=now, available_until=now + timedelta(days=2)))  # fmt: skip
    start = (now + timedelta(minutes=2)).replace(second=0, microsecond=0)
    reservation = reservation_place(actor=acme_user, organisation=acme, idempotency_key="r1",
                                    terms=ReservationTerms(listing_id=listing.pk, units=4, start=start,
                                                           end=start + timedelta(hours=1)))  # fmt: skip
    record = {"record_id": "u1", "reservation": reservation.pk, "meter": "gpu_seconds", "quantity": str(4 * 3600),
              "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}  # fmt: skip
    (result,) = usage_ingest(pool=pool, records=[record], now=start + timedelta(hours=2))
    assert result.status == "accepted"
    yield {"instrument": instrument, "ask": ask, "users": {"gridco": gridco_user, "acme": acme_user},
           "usage": (start, start + timedelta(hours=1))}  # fmt: skip
    books_forget()
    report = ledger_check_run(store=False)
    assert report["ok"], report


def no_sideways_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_a_fill_shows_on_the_orders_page_without_a_reload(live_server, page, screenshots, account):
    base = live_server.url
    code = account["instrument"].code
    sign_in(page, base, email=account["users"]["acme"].email)
    page.goto(f"{base}/market/{code}/")
    page.select_option("#order-form select[name=side]", "buy")
    page.select_option("#order-form select[name=type]", "limit")
    page.fill("#order-form input[name=price]", "12.10")
    page.fill("#order-form input[name=qty]", "8")
    page.select_option("#order-form select[name=tif]", "GTC")
    page.click("#order-form button[type=submit]")
    message = page.locator(".messages li", has_text="accepted")
    expect(message).to_be_visible()
    order_id = int(re.search(r"Order #(\d+) accepted", message.inner_text()).group(1))

    page.locator("#site-nav").get_by_role("link", name="Orders").click()
    row = page.locator(f'#orders tr[data-order="{order_id}"]')
    expect(row.locator('[data-field="status"]')).to_have_text("Accepted, matching")
    expect(row.locator('[data-field="filled"]')).to_have_text("0")
    expect(page.locator("#fills tbody tr")).to_have_text(["No fills yet."])
    page.evaluate("window.__notReloaded = true")

    # the matching worker's service, called here: the bid takes 8 of the resting 16 at 12.00
    assert instrument_match(instrument_id=account["instrument"].pk) == 1
    expect(row.locator('[data-field="status"]')).to_have_text("Filled", timeout=LIVE)
    expect(row.locator('[data-field="filled"]')).to_have_text("8")
    expect(row.locator('[data-field="average"]')).to_have_text("¥12.0000")
    expect(row.locator('[data-field="action"]')).to_have_text("")
    expect(row).to_have_class(re.compile(r"\bflash\b"))
    expect(page.locator("#orders-announce")).to_have_text(f"Order #{order_id}: 8 of 8 units filled.")
    fill = page.locator("#fills tbody tr").first
    expect(fill.locator("td")).to_have_text([re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"), code, "1",
                                             "Buy (bid)", "¥12.0000", "8", str(order_id)])  # fmt: skip
    assert page.evaluate("window.__notReloaded === true")
    page.screenshot(path=screenshots / "account-orders-live-fill.png", full_page=True)

    # the overview now has the fill, the contract and the money it took
    page.locator("nav.subnav").get_by_role("link", name="Overview").click()
    expect(page.locator("#recent-fills li").first).to_contain_text(f"{code} · bought 8 @ ¥12.0000")
    expect(page.locator("#active-contracts h2 .tag")).to_have_text("1")


def test_the_account_pages_in_both_languages(live_server, page, screenshots, account):
    base = live_server.url
    sign_in(page, base, email=account["users"]["acme"].email)
    for language, words in (("en", ("Overview", "Usage", "Recent fills")), ("zh-hans", ("概览", "用量", "最近成交"))):
        if language != "en":
            page.select_option("#lang", language)
            page.wait_for_load_state()
        expect(page.locator("html")).to_have_attribute("lang", language)
        for name, path in (("dashboard", "/dashboard/"), ("orders", "/orders/"), ("usage", "/usage/")):
            page.goto(f"{base}{path}")
            expect(page.locator("nav.subnav a[aria-current=page]")).to_have_count(1)
            page.screenshot(path=screenshots / f"account-{name}-{language}.png", full_page=True)
        page.goto(f"{base}/dashboard/")
        for word in words:
            expect(page.locator("main")).to_contain_text(word)
    # the usage page of the month the hour of use began in: 4 units busy, the part of the hour
    # inside that (local) month — all of it, unless the test runs just before a month ends
    start, end = account["usage"]
    first = period_of(start)
    month_end = min(end, period_bounds(first)[1])
    hours = (Decimal(4) * Decimal((month_end - start).total_seconds()) / 3600).quantize(Decimal("0.000001"))
    page.goto(f"{base}/usage/?month={first:%Y-%m}")
    expect(page.locator("#usage-chart rect")).not_to_have_count(0)
    expect(page.locator("#usage-days tfoot td").last).to_have_text(f"{hours}")


def test_on_a_phone_nothing_scrolls_sideways_and_the_menu_opens(live_server, browser, screenshots, account):
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)
    page = context.new_page()
    base = live_server.url
    page.goto(f"{base}/")
    assert no_sideways_scroll(page), "home"
    sign_in(page, base, email=account["users"]["acme"].email)
    code = account["instrument"].code
    pages = ["/dashboard/", "/orders/", "/contracts/", "/reservations/", "/usage/", "/invoices/", "/funds/",
             "/organisation/api-keys/", "/organisation/members/", "/market/", f"/market/{code}/", "/retail/",
             "/catalog/", "/accounts/2fa/"]  # fmt: skip
    wide = []
    for path in pages:
        page.goto(f"{base}{path}")
        if not no_sideways_scroll(page):
            wide.append((path, page.evaluate("document.documentElement.scrollWidth")))
    assert wide == []
    page.goto(f"{base}/orders/")
    page.screenshot(path=screenshots / "account-orders-phone.png", full_page=True)

    # the menu is behind its button, which says so; it opens, and Escape closes it
    toggle = page.locator("#menu-toggle")
    nav = page.locator("#site-nav")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav.get_by_role("link", name="Orders")).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Orders")).to_be_visible()
    page.screenshot(path=screenshots / "account-menu-phone.png")
    nav.get_by_role("link", name="Orders").focus()
    page.keyboard.press("Escape")
    expect(nav.get_by_role("link", name="Orders")).to_be_hidden()
    expect(toggle).to_be_focused()
    page.keyboard.press("Enter")  # the button, by the keyboard
    expect(nav.get_by_role("link", name="Usage")).to_be_visible()
    nav.get_by_role("link", name="Usage").click()
    expect(page).to_have_url(f"{base}/usage/")
    context.close()


def test_the_keyboard_reaches_the_skip_link_then_the_menu(live_server, page, account):
    base = live_server.url
    sign_in(page, base, email=account["users"]["acme"].email)
    page.goto(f"{base}/dashboard/")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()  # shown when it has the focus
    assert skip.bounding_box()["x"] >= 0
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # a visible focus ring
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/dashboard/#main")
    expect(page.locator("main")).to_be_focused()

    page.goto(f"{base}/dashboard/")
    reached = []
    for _ in range(6):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.textContent.trim()"))
        if reached[-1] == "Orders":
            break
    assert reached[:4] == ["Skip to content", "算力 Suanli", "Market", "Catalog"] and reached[-1] == "Orders", reached
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/orders/")
