"""Issue 5's retail-and-billing journey as new users would try it, in a real browser: a provider
lists units per volume and per time on "My listings"; two buyers find them on the retail shelf,
see the exact quote and reserve; the pool's machines report usage through the API with the
pool's key (one record twice, answered ``duplicate``) and the buyer sees it accrue; after the
month the invoices are issued, opened, downloaded as PDF and paid — one from prepaid funds at
issue, one short by its VAT until the operator records the buyer's bank transfer; the provider
sees its statement, the operator pays it out, and the month reconciles and closes.

Everything a person does goes through the pages. What the hourly task does (complete the
reservations, draft and issue the invoices, the statements, collect payments) is called from
here with an explicit ``now`` after the month's end, so no worker (and no Redis) is needed.
The reservations start in the next minutes and the machines report the first minute of use: the
usage API takes records up to five minutes ahead of its clock (a machine's clock skew), so the
journey runs in real time without waiting for the minutes to pass."""

import io
import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from catalog.pricing import CENT, round_half_up
from catalog.services import pool_key_create
from marketplace.services import reservations_complete
from marketplace.services.listings import cost_floor
from settlement.models import Invoice, InvoiceStatus, UsageRecord
from settlement.selectors import ledger_check_run
from settlement.services import bank_reference_for, bank_transfer_record
from settlement.services.invoices import (
    invoices_collect,
    invoices_draft_all,
    invoices_issue_due,
    period_bounds,
    period_of,
)
from settlement.services.reconciliation import period_close
from settlement.services.statements import statements_issue_due
from tests.e2e.conftest import VIEWPORT
from tests.e2e.steps import api_post, sign_in
from tests.marketplace.conftest import connected_pool

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
VOLUME_PRICE = Decimal("21.36")  # ¥ per unit-hour
TIME_PRICE = Decimal("20.00")
VOLUME_UNITS, TIME_UNITS = 8, 2  # reserved by Acme (per volume) and Bolt (per time)
MINUTES = 60
VOLUME_HOLD = Decimal("256.32")  # 21.36 × 8 × 60 min × 1.50 (all at the peak rate) ÷ 60
TIME_CHARGE = Decimal("40.00")  # 20.00 × 2 × 60 ÷ 60
VAT = Decimal("0.06")
ACME_FUNDS = Decimal("1000.00")
MULTIPLIER = {"peak": Decimal("1.50"), "flat": Decimal("1.00"), "valley": Decimal("0.50")}


def local_minute(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def shown(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def card(page, title):
    return page.locator(".card", has=page.locator(f"h2:text-is('{title}')")).locator(".big")


def section(page, title):
    return page.locator(f"h2:text-is('{title}') + table, h2:text-is('{title}') + div.scroll table")


def row_of(page, first_cell, rows="main table tbody tr"):
    return page.locator(rows).filter(
        has=page.locator("td:first-child", has_text=re.compile(rf"^{re.escape(first_cell)}$"))
    )


def money(amount):
    """As the pages write an amount: ¥ with thousands separators, a negative with a minus sign."""
    return f"{'−' if amount < 0 else ''}¥{abs(amount):,.2f}"


def pdf_text(path):
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(Path(path).read_bytes())).pages)


@pytest.fixture
def shelf(make_org, reference_data, operator):
    """GridCo with a connected pool of 64 H100 in YRD/MAIN and a machine key; Acme with ¥1,000
    prepaid; Bolt with exactly what its per-time reservation will hold (not its VAT)."""
    gridco_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    bolt_user, bolt = make_org(slug="bolt", name="Bolt Labs")
    for org, amount, txn in ((acme, ACME_FUNDS, "E1"), (bolt, TIME_CHARGE, "E2")):
        bank_transfer_record(
            actor=operator, reference=bank_reference_for(organisation=org).code, amount=amount, bank_transaction_id=txn
        )
    pool = connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-1")
    _, key = pool_key_create(actor=gridco_user, organisation=gridco, pool_id=pool.pk, name="rack-2")
    assert cost_floor(resource_class="H100-80G", region="YRD") < TIME_PRICE < VOLUME_PRICE
    yield {"pool": pool, "key": key, "operator": operator,
           "users": {"gridco": gridco_user, "acme": acme_user, "bolt": bolt_user},
           "orgs": {"gridco": gridco, "acme": acme, "bolt": bolt}}  # fmt: skip
    report = ledger_check_run(store=False)
    assert report["ok"], report


def list_capacity(page, *, units, price, billing, minimum, until):
    form = page.locator("#listing-form")
    form.locator("select[name=pool]").select_option(label="gridco-1 · YRD/MAIN")
    form.locator("select[name=resource_class]").select_option("H100-80G")
    form.locator("input[name=units]").fill(str(units))
    form.locator("input[name=price]").fill(str(price))
    form.locator("select[name=billing]").select_option(billing)
    form.locator("input[name=minimum_minutes]").fill(str(minimum))
    form.locator("input[name=available_until]").fill(local_minute(until))
    form.get_by_role("button", name="List").click()
    message = page.locator(".messages li", has_text="is on the shelf")
    expect(message).to_be_visible()
    return int(re.search(r"Listing #(\d+)", message.inner_text()).group(1))


def reserve(page, *, units, start, end):
    """Fill the listing page's form, ask for the quote; the quote's text (confirmed later)."""
    form = page.locator("#reservation-form")
    form.locator("input[name=units]").fill(str(units))
    form.locator("input[name=start]").fill(local_minute(start))
    form.locator("input[name=end]").fill(local_minute(end))
    form.get_by_role("button", name="Quote").click()
    quote = page.locator("#quote")
    expect(quote).to_be_visible()
    return quote


def test_reserve_use_invoice_pay_and_pay_out(live_server, page, shoot, shelf):
    base = live_server.url
    now = timezone.now()
    # the next minute but one: still ahead when the buyer confirms
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=2)
    end = start + timedelta(minutes=MINUTES)
    period = period_of(start)
    after_month = period_bounds(period)[1] + timedelta(hours=1)  # the hourly task's first run on the 1st

    # 1. The provider lists 16 units per volume and 4 per time on "My listings"
    provider = page
    sign_in(provider, base, email=shelf["users"]["gridco"].email)
    provider.click("header >> text=My listings")
    listings = "main table:not(#sold) tbody tr"
    expect(provider.locator(listings)).to_have_text(["No listings yet."])
    expect(provider.locator("#sold tbody tr")).to_have_text(["Nobody has reserved your listings yet."])
    until = now + timedelta(days=2)
    volume_id = list_capacity(provider, units=16, price=VOLUME_PRICE, billing="per_volume", minimum=1, until=until)
    time_id = list_capacity(provider, units=4, price=TIME_PRICE, billing="per_time", minimum=60, until=until)
    for listing_id, units, price, billing, minimum in (
        (volume_id, "16", "¥21.3600", "Per volume (按量计费)", "1"),
        (time_id, "4", "¥20.0000", "Per time (按时计费)", "60"),
    ):
        expect(row_of(provider, str(listing_id), listings).locator("td")).to_have_text(
            [str(listing_id), "gridco-1", "H100-80G", units, price, billing, minimum,
             re.compile(rf"– {shown(until)}$"), "Active", "Withdraw"]
        )  # fmt: skip
    shoot(provider, "billing-1-provider-listings")

    # 2. Acme finds the per-volume listing on the retail shelf, sees the quote and reserves
    acme = provider.context.browser.new_context(viewport=VIEWPORT, accept_downloads=True).new_page()
    sign_in(acme, base, email=shelf["users"]["acme"].email)
    acme.click("header >> text=Retail")
    acme.select_option("select[name=billing]", "per_volume")
    acme.click("form[aria-label='Filter listings'] button[type=submit]")
    expect(acme.locator("main table tbody tr")).to_have_count(1)
    shoot(acme, "billing-2-buyer-retail")
    row_of(acme, str(volume_id)).get_by_role("link", name="Reserve").click()
    quote = reserve(acme, units=VOLUME_UNITS, start=start, end=end)
    prices = {kind: VOLUME_PRICE * m for kind, m in MULTIPLIER.items()}
    for kind, price in prices.items():
        expect(quote.locator("li", has_text=f"{kind}:")).to_have_text(f"{kind}: ¥{price:.4f}")  # 32.0400 at peak
    expect(quote.locator("strong")).to_have_text(money(VOLUME_HOLD))
    shoot(acme, "billing-2-buyer-quote")
    acme.get_by_role("button", name="Confirm reservation").click()
    expect(acme.locator(".messages li")).to_have_text(
        re.compile(rf"^Reservation #\d+ confirmed: {VOLUME_UNITS} unit\(s\), {VOLUME_HOLD} on hold\.$")
    )
    expect(acme).to_have_url(f"{base}/reservations/")
    volume_res = int(re.search(r"#(\d+)", acme.locator(".messages li").inner_text()).group(1))
    mine = row_of(acme, str(volume_res))
    expect(mine.locator("td").nth(3)).to_have_text(str(VOLUME_UNITS))
    expect(mine.locator("td").nth(4)).to_have_text(f"{shown(start)} – {shown(end)}")
    expect(mine).to_contain_text("Confirmed")
    acme.click("header >> text=Funds")
    expect(card(acme, "On hold")).to_have_text(money(VOLUME_HOLD))
    expect(card(acme, "Available")).to_have_text(money(ACME_FUNDS - VOLUME_HOLD))
    expect(section(acme, "Open holds").locator("tbody tr td").first).to_have_text(f"reservation {volume_res}")
    shoot(acme, "billing-2-buyer-funds-hold")

    # Bolt reserves the per-time listing with exactly the charge in its funds
    bolt = provider.context.browser.new_context(viewport=VIEWPORT, accept_downloads=True).new_page()
    sign_in(bolt, base, email=shelf["users"]["bolt"].email)
    bolt.goto(f"{base}/retail/{time_id}/")
    quote = reserve(bolt, units=TIME_UNITS, start=start, end=end)
    expect(quote.locator("strong")).to_have_text(money(TIME_CHARGE))
    bolt.get_by_role("button", name="Confirm reservation").click()
    expect(bolt.locator(".messages li")).to_contain_text(f"{TIME_UNITS} unit(s), {TIME_CHARGE} on hold.")
    time_res = int(re.search(r"#(\d+)", bolt.locator(".messages li").inner_text()).group(1))

    # The provider sees both on "My listings": what its pool must deliver, and the numbers its
    # machines report usage against
    provider.reload()
    sold = provider.locator("#sold tbody tr")
    expect(sold.locator("td:first-child")).to_have_text([str(time_res), str(volume_res)])
    expect(sold.first.locator("td")).to_have_text(
        [str(time_res), str(time_id), "gridco-1", str(TIME_UNITS), f"{shown(start)} – {shown(end)}",
         "Per time (按时计费)", "—", "Confirmed"]
    )  # fmt: skip
    shoot(provider, "billing-2-provider-reservations")

    # 3. The pool's machines report the first minute through the API, one record twice
    key = shelf["key"]
    half = start + timedelta(seconds=30)
    first = {"record_id": "rack-2/0001", "reservation": volume_res, "meter": "gpu_seconds",
             "quantity": "240", "start": start.isoformat(), "end": half.isoformat()}  # fmt: skip
    status, body = api_post(base, "/api/v1/usage/", key, {"records": [first, dict(first)]})
    assert status == 200, body
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 1, 0), body
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]
    acme.click("header >> text=Reservations")
    used = row_of(acme, str(volume_res)).locator("td").nth(8)
    expect(used).to_have_text("0.066667")  # 240 GPU-seconds in unit-hours
    second = {**first, "record_id": "rack-2/0002", "quantity": "120", "start": half.isoformat(),
              "end": (start + timedelta(minutes=1)).isoformat()}  # fmt: skip
    status, body = api_post(base, "/api/v1/usage/", key, {"records": [second, first]})  # the first again, in a retry
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]
    assert UsageRecord.objects.count() == 2
    acme.reload()
    expect(used).to_have_text("0.100000")  # 360 GPU-seconds
    shoot(acme, "billing-3-buyer-usage")
    provider.reload()
    expect(provider.locator("#sold tbody tr").nth(1).locator("td").nth(6)).to_have_text("0.100000")

    # ... and, once the hourly task has redrafted it, sees the month's draft invoice with the usage
    invoices_draft_all()
    acme.click("header >> text=Invoices")
    draft = acme.locator("main table tbody tr")
    expect(draft).to_have_count(1)
    expect(draft.locator("td").first).to_have_text("draft")
    local_start = timezone.localtime(start)
    regions = json.loads((ROOT / "data" / "regions.json").read_text())["regions"]
    tou = next(r for r in regions if r["code"] == "YRD")["tou_by_local_hour"][local_start.hour]
    usage_amount = round_half_up(Decimal("0.1") * prices[tou], CENT)
    draft.locator("td a").first.click()
    usage_line = acme.locator("main table tbody tr", has_text="retail.volume")
    expect(usage_line.locator("td")).to_have_text(
        [f"Metered use, {tou} hours (unit price × {MULTIPLIER[tou]}), no volume discount",
         "H100-80G.YRD.MAIN.retail.volume",
         "0.100000", "¥21.3600", "GridCo", money(usage_amount)]
    )  # fmt: skip
    shoot(acme, "billing-3-buyer-draft-invoice")

    # 4. The month ends: the reservations complete, the invoices are issued
    assert reservations_complete(now=after_month) == 2
    numbers = invoices_issue_due(now=after_month)
    assert len(numbers) == 2, numbers
    acme_invoice = Invoice.objects.get(organisation=shelf["orgs"]["acme"], period=period)
    bolt_invoice = Invoice.objects.get(organisation=shelf["orgs"]["bolt"], period=period)
    acme_total = usage_amount + round_half_up(usage_amount * VAT, CENT)
    bolt_total = TIME_CHARGE + round_half_up(TIME_CHARGE * VAT, CENT)
    assert (acme_invoice.total, acme_invoice.status) == (acme_total, InvoiceStatus.PAID)
    assert (bolt_invoice.total, bolt_invoice.paid, bolt_invoice.status) == (
        bolt_total,
        TIME_CHARGE,
        InvoiceStatus.ISSUED,
    )

    # Acme's invoice was paid from its prepaid funds at issue; it opens it and takes the PDF
    acme.click("header >> text=Invoices")
    issued = row_of(acme, acme_invoice.number)
    expect(issued.locator("td").nth(3)).to_have_text("Paid")
    expect(issued.locator("td").nth(6)).to_have_text(money(acme_total))
    expect(issued.locator("td").nth(7)).to_have_text("¥0.00")
    shoot(acme, "billing-4-buyer-invoices")
    issued.get_by_role("link", name=acme_invoice.number).click()
    expect(acme.locator("h1")).to_have_text(f"Invoice {acme_invoice.number}")
    foot = acme.locator("main table tfoot")
    expect(foot.locator("tr:has(th:text-is('Total')) td")).to_have_text(money(acme_total))
    expect(foot.locator("tr:has(th:text-is('Due')) td")).to_have_text("¥0.00")
    shoot(acme, "billing-4-buyer-invoice")
    with acme.expect_download() as download:
        acme.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename == f"{acme_invoice.number}.pdf"
    pdf = download.value.path()
    assert Path(pdf).read_bytes().startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert acme_invoice.number in text and f"{acme_total}" in text, text
    acme.click("header >> text=Funds")
    expect(card(acme, "On hold")).to_have_text(money(0))
    expect(card(acme, "Prepaid funds")).to_have_text(money(ACME_FUNDS - acme_total))

    # Bolt's funds covered the charge, not its VAT: the invoice shows what is still due
    bolt.click("header >> text=Invoices")
    unpaid = row_of(bolt, bolt_invoice.number)
    expect(unpaid.locator("td").nth(3)).to_have_text("Issued")
    expect(unpaid.locator("td").nth(7)).to_have_text(money(bolt_total - TIME_CHARGE))
    shoot(bolt, "billing-4-buyer-invoice-unpaid")

    # The operator's reconciliation of the month shows the unpaid VAT as a difference, with its cause
    operator = provider.context.browser.new_context(viewport=VIEWPORT).new_page()
    sign_in(operator, base, email=shelf["operator"].email, totp=True)
    operator.goto(f"{base}/operator/")
    operator.get_by_role("link", name="Reconciliation", exact=True).click()
    operator.fill("input[name=period]", f"{period:%Y-%m}")
    operator.get_by_role("button", name="Show").click()
    expect(operator.locator("main p", has_text="neither zero nor explained")).to_have_text(
        "1 difference is neither zero nor explained."
    )
    unpaid_check = operator.locator("main table tbody tr", has_text="invoice_unpaid")
    expect(unpaid_check.locator("td").nth(6)).to_have_text(money(TIME_CHARGE - bolt_total))
    expect(unpaid_check.locator("td").nth(7)).to_contain_text("Not paid yet")
    shoot(operator, "billing-4-operator-reconciliation-unpaid")

    # The operator records Bolt's bank transfer on /operator/money/; the hourly task collects
    operator.goto(f"{base}/operator/")
    operator.get_by_role("link", name="Money and ledger").click()
    reference = bank_reference_for(organisation=shelf["orgs"]["bolt"]).code
    bank = operator.locator("form", has=operator.locator("h2:text-is('Record a bank transfer received')"))
    bank.get_by_label("Reference on the transfer").fill(reference)
    bank.get_by_label("Amount (¥)").fill(str(bolt_total - TIME_CHARGE))
    bank.get_by_label("Bank's transaction id").fill("E3")
    bank.get_by_role("button", name="Record").click()
    expect(operator.locator(".messages li")).to_have_text(
        f"Bank transfer E3: ¥{bolt_total - TIME_CHARGE} to the prepaid funds of reference {reference}. "
        "Unpaid invoices are collected from them within the hour."
    )
    shoot(operator, "billing-4-operator-bank-transfer")
    assert invoices_collect(now=after_month + timedelta(hours=1)) == 1
    bolt.reload()
    expect(row_of(bolt, bolt_invoice.number).locator("td").nth(3)).to_have_text("Paid")
    expect(row_of(bolt, bolt_invoice.number).locator("td").nth(7)).to_have_text("¥0.00")
    shoot(bolt, "billing-4-buyer-invoice-paid")

    # 5. The provider's statement: gross = both charges, 5 % commission, net payable
    (statement_number,) = statements_issue_due(now=after_month + timedelta(hours=1))
    gross = usage_amount + TIME_CHARGE
    commission = round_half_up(gross * Decimal("0.05"), CENT)
    net = gross - commission
    provider.click("header >> text=Statements")
    expect(provider.locator("main p", has_text="Payable to you now")).to_have_text(f"Payable to you now: {money(net)}")
    statement = row_of(provider, statement_number)
    expect(statement.locator("td")).to_have_text(
        [statement_number, f"{period:%Y-%m}", money(gross), "¥0.00", money(commission), "¥0.00", "¥0.00", money(net)]
    )
    shoot(provider, "billing-5-provider-statements")
    statement.get_by_role("link", name=statement_number).click()
    expect(provider.locator("main table tbody tr")).to_have_count(2)
    shoot(provider, "billing-5-provider-statement")

    # The operator sees what GridCo is owed and pays it out; the provider's payable drops to nothing
    operator.goto(f"{base}/operator/money/")
    expect(operator.locator("#payables tbody tr td")).to_have_text(["GridCo", "gridco", money(net)])
    payout = operator.locator("form", has=operator.locator("h2:text-is('Provider payout sent')"))
    payout.get_by_label("Provider (slug)").fill("gridco")
    payout.get_by_label("Amount (¥)").fill(str(net))
    payout.get_by_label("Bank's transaction id").fill("P1")
    payout.get_by_role("button", name="Record payout").click()
    expect(operator.locator(".messages li")).to_have_text(f"Payout P1: ¥{net} paid out of gridco's payable.")
    expect(operator.locator("#payables tbody tr")).to_have_text(["No provider is owed anything."])
    shoot(operator, "billing-5-operator-payout")
    provider.click("header >> text=Statements")
    expect(provider.locator("main p", has_text="Payable to you now")).to_have_text("Payable to you now: ¥0.00")

    # The month reconciles without a difference and closes
    operator.goto(f"{base}/operator/reconciliation/?period={period:%Y-%m}")
    expect(operator.locator("h1")).to_have_text(f"Reconciliation · {period:%Y-%m}")
    expect(operator.locator("main p", has_text="neither zero nor explained")).to_have_text(
        "0 differences are neither zero nor explained."
    )
    expect(operator.locator("strong.error")).to_have_count(0)
    # (the month is the one running now on the real clock: the page says it cannot close yet)
    expect(operator.locator("#not-ended")).to_be_visible()
    expect(operator.get_by_role("button", name="Close the period")).to_be_disabled()
    shoot(operator, "billing-5-operator-reconciliation")
    period_close(actor=shelf["operator"], period=period, now=after_month + timedelta(hours=2))
    operator.reload()
    expect(operator.locator("main .status")).to_have_text("closed")
    shoot(operator, "billing-5-operator-reconciliation-closed")
    for context in (acme.context, bolt.context, operator.context):
        context.close()
