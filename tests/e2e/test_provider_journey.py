"""Issue 6's provider journey, end to end as a new provider would walk it, in a real browser with
a real matching worker: sign up, create the provider organisation, connect a pool with the guided
form (a first submit with a mistake shows the error next to the field and keeps everything
typed), take a machine key; the operator verifies the pool and its first heartbeat connects it;
the provider lists capacity on the retail shelf and posts an ask on the book, sees the sale (a
buyer's bid fills the ask on the page without a reload, a buyer reserves the listing), and, once
the month is invoiced, reads its statement.

The buyer is another company's system (its actions go through the services, as its API calls
would); the month's invoicing and statements are the hourly task's, called with an explicit
``now`` after the month's end. Bilingual screenshots of every main page are kept as
provider-NN-*.png."""

from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from catalog.models import Pool, PoolStatus
from marketplace.models import Listing, Order, OrderStatus
from marketplace.services import instrument_ensure, order_place, reservation_place, reservations_complete
from marketplace.services.orders import OrderTerms
from marketplace.services.reservations import ReservationTerms
from settlement.models import Statement
from settlement.selectors import ledger_check_run
from settlement.services.invoices import invoices_issue_due, period_bounds, period_of
from settlement.services.statements import statements_issue_due
from tests.e2e.steps import (
    LIVE,
    create_organisation,
    form_with,
    heartbeat,
    local_minute,
    mark_page,
    messages,
    next_minutes,
    not_reloaded,
    order_row,
    place_order,
    row_with_cell,
    sign_in,
    sign_up,
    yuan,
)
from tests.marketplace.conftest import next_week_code

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

EMAIL, PASSWORD = "founder@lingang.test", "a-long-pass-phrase-42"
PRICE, LOT = Decimal("12.35"), 8
TIME_PRICE, TIME_UNITS, MINUTES = Decimal("20.00"), 2, 60
TIME_CHARGE = Decimal("40.00")  # 20.00 × 2 units × 60 min ÷ 60
RETAIL_COMMISSION = Decimal("2.00")  # 5 % of 40.00


@pytest.fixture
def counterparties(make_org, reference_data, operator, fund):
    """Acme, a funded buyer; the platform's operator; next week's H100 instrument listed."""
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    fund(acme, "1000000.00")
    instrument = instrument_ensure(code=next_week_code())
    yield {"acme": (acme_user, acme), "operator": operator, "instrument": instrument}
    report = ledger_check_run(store=False)
    assert report["ok"], report


def fill_pool_form(page, base, *, code):
    """The guided grid-connection form (算力并网), as the standard asks for a site (found by its
    fields, not its words: the screenshot helper fills it in Chinese too)."""
    page.goto(f"{base}/provider/pools/new/")
    form = page.locator("form", has=page.locator("input[name=pue]"))
    form.locator("input[name=code]").fill(code)
    form.locator("input[name=name]").fill("Lingang AI Compute Centre")
    form.locator("select[name=region]").select_option("YRD")
    form.locator("input[name=city]").fill("Shanghai")
    form.locator("input[name=latitude]").fill("30.898")
    form.locator("input[name=longitude]").fill("121.927")
    form.locator("input[name=rtt_ms]").fill("2.5")
    form.locator("input[name=pue]").fill("1.25")
    form.locator("input[name=green_power_share]").fill("0.35")
    form.locator("input[name='units_H100-80G']").fill("64")
    form.locator("button[type=submit]").click()


def test_provider_connects_a_pool_lists_sees_the_sale_and_reads_the_statement(
    live_server, page, new_page, shoot, counterparties, matching_worker
):
    base = live_server.url
    code = counterparties["instrument"].code
    acme_user, acme = counterparties["acme"]

    # 1. Sign up, confirm, sign in, create the provider organisation
    sign_up(page, base, email=EMAIL, password=PASSWORD)
    sign_in(page, base, email=EMAIL, password=PASSWORD)
    create_organisation(page, base, name="Lingang Compute", buyer=False, provider=True)
    shoot(page, "provider-01-dashboard")

    # 2. Connect a pool: first with a code the standard refuses; the error is next to the field,
    #    marked for assistive technology, and nothing typed is lost
    fill_pool_form(page, base, code="Lingang 1")
    wrong = page.locator(".field.has-error", has=page.locator("input[name=code]"))
    expect(wrong).to_contain_text("does not match")
    expect(page.locator("input[name=code]")).to_have_value("Lingang 1")
    expect(page.locator("input[name=city]")).to_have_value("Shanghai")
    expect(page.locator("input[name='units_H100-80G']")).to_have_value("64")
    assert not Pool.objects.exists()
    shoot(page, "provider-02-pool-form-error", redo=lambda other: fill_pool_form(other, base, code="Lingang 1"))
    page.locator("input[name=code]").fill("lingang-1")
    form_with(page, "Apply for connection").get_by_role("button", name="Apply for connection").click()
    expect(messages(page)).to_contain_text("applied for connection")
    pool = Pool.objects.get(code="lingang-1")
    assert pool.status == PoolStatus.APPLIED

    # 3. A machine key, shown once
    page.get_by_label("Key name").fill("rack-1")
    page.get_by_role("button", name="Create machine key").click()
    key = page.locator("code.key").inner_text().strip()
    assert key.startswith("pk_")
    shoot(page, "provider-03-pool-applied-key", redo=lambda other: other.goto(f"{base}/provider/pools/{pool.pk}/"))

    # 4. The operator verifies the pool (signing in with the second factor)
    operator = new_page()
    sign_in(operator, base, email=counterparties["operator"].email, totp=True)
    operator.goto(f"{base}/operator/pools/{pool.pk}/")
    verify = form_with(operator, "Verify")
    verify.locator("textarea[name=reason]").fill("Site inspection passed")
    verify.get_by_role("button", name="Verify").click()
    expect(messages(operator)).to_contain_text("verify")

    # 5. The pool's first heartbeat connects it; its capacity counts
    status, body = heartbeat(base, pool_id=pool.pk, key=key, available={"H100-80G": 64})
    assert status == 201, body
    page.goto(f"{base}/provider/pools/{pool.pk}/")
    expect(page.locator("main")).to_contain_text("Connected")
    expect(row_with_cell(page, "H100-80G").first).to_contain_text("64")
    shoot(page, "provider-04-pool-connected")
    page.goto(f"{base}/provider/pools/")
    shoot(page, "provider-05-pools")

    # 6. List 4 units per time on the retail shelf
    page.goto(f"{base}/listings/")
    until = next_minutes(0) + timedelta(days=2)
    form = form_with(page, "List")
    form.locator("select[name=pool]").select_option(label="lingang-1 · YRD/MAIN")
    form.locator("select[name=resource_class]").select_option("H100-80G")
    form.locator("input[name=units]").fill("4")
    form.locator("input[name=price]").fill(str(TIME_PRICE))
    form.locator("select[name=billing]").select_option("per_time")
    form.locator("input[name=minimum_minutes]").fill("60")
    form.locator("input[name=available_until]").fill(local_minute(until))
    form.get_by_role("button", name="List").click()
    expect(messages(page)).to_contain_text("is on the shelf")
    listing = Listing.objects.get(pool=pool)
    shoot(page, "provider-06-listings")

    # 7. ... and an ask of two lots on next week's instrument
    page.goto(f"{base}/market/{code}/")
    ask_id = place_order(page, side="sell", price=PRICE, qty=2 * LOT)
    mark_page(page)
    ask = order_row(page, ask_id)
    expect(ask).to_contain_text("Resting on the book", timeout=LIVE)
    shoot(page, "provider-07-ask-on-the-book")

    # 8. The sale: Acme's trading system bids one lot; the provider's page shows the fill live
    order_place(
        actor=acme_user, organisation=acme,
        terms=OrderTerms(instrument=code, side="buy", type="limit", qty=LOT, tif="GTC", price=PRICE),
        idempotency_key="acme-bid-1",
    )  # fmt: skip
    expect(ask.get_by_role("cell", name=str(LOT), exact=True)).to_be_visible(timeout=LIVE)  # filled 8 of 16
    assert not_reloaded(page)
    assert Order.objects.get(pk=ask_id).filled_qty == LOT
    assert Order.objects.get(pk=ask_id).status == OrderStatus.OPEN
    shoot(page, "provider-08-ask-part-filled", guide_at="#own-orders")

    # ... and Acme reserves two units of the listing for an hour
    start = next_minutes(2)
    reservation = reservation_place(
        actor=acme_user, organisation=acme,
        terms=ReservationTerms(listing_id=listing.pk, units=TIME_UNITS, start=start,
                               end=start + timedelta(minutes=MINUTES)),
        idempotency_key="acme-res-1",
    )  # fmt: skip
    page.goto(f"{base}/listings/")
    sold = row_with_cell(page, str(reservation.pk), column="Reservation")
    expect(sold).to_contain_text("Confirmed")
    expect(sold).to_contain_text("lingang-1")
    page.goto(f"{base}/orders/")
    expect(order_row(page, ask_id)).to_contain_text(code)
    shoot(page, "provider-09-orders")
    page.goto(f"{base}/listings/")
    shoot(page, "provider-10-listing-sold")

    # 9. The month ends: the reservation completes, Acme is invoiced, the statement is issued
    after_month = period_bounds(period_of(start))[1] + timedelta(hours=1)
    assert reservations_complete(now=after_month) == 1
    invoices_issue_due(now=after_month)
    (number,) = statements_issue_due(now=after_month + timedelta(hours=1))
    statement = Statement.objects.get(number=number)
    # the retail sale is on this month's statement: 40.00 gross, 5 % commission
    assert (statement.gross_retail, statement.commission_retail) == (TIME_CHARGE, RETAIL_COMMISSION)
    page.goto(f"{base}/statements/")
    row = row_with_cell(page, number)
    expect(row).to_contain_text(yuan(statement.gross_retail))
    expect(row).to_contain_text(yuan(statement.net))
    shoot(page, "provider-11-statements")
    row.get_by_role("link", name=number).click()
    expect(page.locator("h1")).to_contain_text(number)
    expect(page.locator("main")).to_contain_text(yuan(statement.net))
    shoot(page, "provider-12-statement")
