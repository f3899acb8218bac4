"""Issue 6's operator journey (统一监管), end to end in a real browser: the operator signs in with
the second factor, verifies the pool waiting in the console, supervises (the organisations, an
organisation's money, the audit log with the verification and its reason), and reconciles the
month: the provider's statement is not paid out yet and one invoice is short by its VAT; the
operator runs the ledger checker, records the payout, explains the VAT difference, and exports the
reconciliation as CSV with the explanation in it.

The month's trading is set up through the services (a provider with a connected pool and a
per-time listing, two buyers' reservations), and the hourly task's invoicing and statements are
called with an explicit ``now`` after the month's end; no worker is needed. Bilingual screenshots
of every main page are kept as operator-NN-*.png."""

import csv
import io
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from catalog.models import Pool, PoolStatus
from catalog.services import pool_apply
from marketplace.services import listing_create, reservation_place, reservations_complete
from marketplace.services.listings import ListingTerms
from marketplace.services.reservations import ReservationTerms
from settlement.models import Invoice, InvoiceStatus
from settlement.selectors import ledger_check_run
from settlement.services.invoices import invoices_issue_due, period_bounds, period_of
from settlement.services.statements import statements_issue_due
from tests.conftest import descriptor
from tests.e2e.steps import form_with, messages, next_minutes, sign_in, yuan
from tests.marketplace.conftest import connected_pool

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TIME_PRICE, UNITS, MINUTES = Decimal("20.00"), 2, 60
CHARGE = Decimal("40.00")  # 20.00 × 2 units × 60 min ÷ 60
VAT = Decimal("2.40")  # 6 % of 40.00
NET = Decimal("76.00")  # GridCo's statement: 2 × 40.00 gross − 5 % commission
REASON = "Site inspection passed: 64 H100 counted on site"
EXPLANATION = "Bolt Labs pays the VAT by bank transfer next week (ticket 4711)"


@pytest.fixture
def month(make_org, reference_data, operator, fund):
    """A month of trading to supervise: GridCo's connected pool with a per-time listing, reserved
    by Acme (funded) and Bolt (funded with the charge only, not its VAT); WestDC's pool waits for
    verification. The month has ended: invoices and statements are issued."""
    gridco_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    westdc_user, westdc = make_org(provider=True, buyer=False, slug="westdc", name="WestDC")
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    bolt_user, bolt = make_org(slug="bolt", name="Bolt Labs")
    fund(acme, "1000.00")
    fund(bolt, str(CHARGE))
    pool = connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-1")
    waiting = pool_apply(actor=westdc_user, organisation=westdc, descriptor=descriptor(code="westdc-1", region="YRD"))
    now = next_minutes(0)
    listing = listing_create(
        actor=gridco_user, organisation=gridco,
        terms=ListingTerms(pool_id=pool.pk, resource_class="H100-80G", units=8, price=TIME_PRICE, billing="per_time",
                           minimum_minutes=60, available_from=now, available_until=now + timedelta(days=2)),
    )  # fmt: skip
    start = next_minutes(2)
    for user, org in ((acme_user, acme), (bolt_user, bolt)):
        reservation_place(
            actor=user, organisation=org,
            terms=ReservationTerms(listing_id=listing.pk, units=UNITS, start=start,
                                   end=start + timedelta(minutes=MINUTES)),
            idempotency_key=f"{org.slug}-res-1",
        )  # fmt: skip
    period = period_of(start)
    after_month = period_bounds(period)[1] + timedelta(hours=1)
    assert reservations_complete(now=after_month) == 2
    assert len(invoices_issue_due(now=after_month)) == 2
    statements_issue_due(now=after_month + timedelta(hours=1))
    bolt_invoice = Invoice.objects.get(organisation=bolt, period=period)
    assert (bolt_invoice.status, bolt_invoice.due) == (InvoiceStatus.ISSUED, VAT)
    yield {"operator": operator, "waiting": waiting, "period": period, "bolt_invoice": bolt_invoice}
    report = ledger_check_run(store=False)
    assert report["ok"], report


def test_operator_verifies_supervises_and_reconciles(live_server, page, shoot, month):
    base = live_server.url
    waiting = month["waiting"]
    period = f"{month['period']:%Y-%m}"

    # 1. Sign in with the second factor; the console shows the pool waiting for verification
    sign_in(page, base, email=month["operator"].email, totp=True)
    page.goto(f"{base}/operator/")
    expect(page.get_by_role("link", name="westdc-1").first).to_be_visible()
    shoot(page, "operator-01-console")

    # 2. Verify it, with the reason the audit log keeps
    page.get_by_role("link", name="westdc-1").first.click()
    expect(page).to_have_url(f"{base}/operator/pools/{waiting.pk}/")
    shoot(page, "operator-02-pool")
    verify = form_with(page, "Verify")
    verify.locator("textarea[name=reason]").fill(REASON)
    verify.get_by_role("button", name="Verify").click()
    expect(messages(page)).to_contain_text("verify")
    assert Pool.objects.get(pk=waiting.pk).status == PoolStatus.VERIFIED

    # 3. Supervise: the organisations (where the console has that page), one's money, the audit log
    response = page.goto(f"{base}/operator/organisations/")
    if response.status == 200:
        expect(page.locator("main")).to_contain_text("Bolt Labs")
        shoot(page, "operator-03-organisations")
    page.goto(f"{base}/operator/organisations/bolt/ledger/")
    expect(page.locator("main")).to_contain_text("Bolt Labs")
    expect(page.locator("main")).to_contain_text(yuan(VAT))  # the invoice receivable left
    shoot(page, "operator-04-organisation-ledger")
    page.goto(f"{base}/operator/audit/")
    verified = page.locator("main").get_by_role("row").filter(has_text=REASON)
    expect(verified).to_have_count(1)
    expect(verified).to_contain_text("verify")
    expect(verified).to_contain_text("WestDC")
    shoot(page, "operator-05-audit-log")

    # 4. Reconcile the month: GridCo's statement is not paid out yet, Bolt's invoice is short by
    #    its VAT; each difference says its cause
    page.goto(f"{base}/operator/reconciliation/")
    page.get_by_label("Month").fill(period)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("h1")).to_contain_text(period)
    expect(page.locator("main")).to_contain_text("2 differences are neither zero nor explained.")
    payout = page.locator("main").get_by_role("row").filter(has_text="statement_vs_payout")
    expect(payout).to_contain_text("gridco")
    expect(payout).to_contain_text(yuan(-NET))
    unpaid = page.locator("main").get_by_role("row").filter(has_text="invoice_unpaid")
    expect(unpaid).to_contain_text("bolt")
    expect(unpaid).to_contain_text(yuan(-VAT))
    shoot(page, "operator-06-reconciliation", guide_at="main strong.error")

    # ... the operator runs the ledger checker and records the payout sent to GridCo's bank
    page.goto(f"{base}/operator/money/")
    page.get_by_role("button", name="Run the checker now").click()
    expect(messages(page)).to_have_text(["The ledger is consistent."])
    sent = form_with(page, "Record payout")
    sent.get_by_label("Provider (slug)").fill("gridco")
    sent.get_by_label("Amount (¥)").fill(str(NET))
    sent.get_by_label("Bank's transaction id").fill("P-2026-11-1")
    sent.get_by_role("button", name="Record payout").click()
    expect(messages(page)).to_contain_text("gridco")
    shoot(page, "operator-07-money-payout")
    page.goto(f"{base}/operator/reconciliation/?period={period}")
    expect(page.locator("main")).to_contain_text("1 difference is neither zero nor explained.")
    unpaid = page.locator("main").get_by_role("row").filter(has_text="invoice_unpaid")

    # ... the operator explains it; nothing is left unexplained
    unpaid.get_by_label("Reason").fill(EXPLANATION)
    unpaid.get_by_role("button", name="Explain").click()
    expect(page.locator("main")).to_contain_text("0 differences are neither zero nor explained.")
    expect(page.locator("main")).to_contain_text(EXPLANATION)
    shoot(page, "operator-08-reconciliation-explained", redo=lambda other: other.goto(
        f"{base}/operator/reconciliation/?period={period}"))  # fmt: skip

    # 5. Export the month as CSV: every check, the difference and its explanation
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename == f"reconciliation-{period}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {r["organisation"] for r in rows} >= {"acme", "bolt", "gridco"}, rows
    (short,) = [r for r in rows if r["difference"] not in ("0", "0.00")]
    assert (short["organisation"], short["check"], Decimal(short["difference"]), short["explanation"]) == (
        "bolt", "invoice_unpaid", -VAT, EXPLANATION
    )  # fmt: skip
    assert month["bolt_invoice"].number in {r["document"] for r in rows}
