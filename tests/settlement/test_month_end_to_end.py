"""A month of the exchange, end to end on PostgreSQL (issue 5): retail reservations per time and per
volume, metered usage with repeats and a late record, a heartbeat outage, a wholesale contract →
issued invoices, a service-level credit note and provider statements whose totals equal the
ledger's postings to the cent, and a reconciliation with no unexplained difference."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from catalog.models import Heartbeat
from marketplace.models import Billing
from marketplace.services import OrderTerms, instrument_ensure, instrument_match, order_place, reservations_complete
from settlement.models import Invoice, Posting, Purpose, SlaCheck, Statement
from settlement.services import account_for, payout_record, usage_ingest
from settlement.services.invoices import invoice_draft, invoices_collect, invoices_issue_due
from settlement.services.reconciliation import differences, period_close, reconcile
from settlement.services.sla import sla_checks_due
from settlement.services.statements import statements_issue_due
from tests.marketplace.conftest import connected_pool, next_week_code
from tests.marketplace.test_retail import NOW, H, list_, reserve

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

DECEMBER = date(2026, 12, 1)
JAN_1 = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # 2027-01-01 00:00 in Shanghai
M = timedelta(minutes=1)


def beats(pool, start, end, *, gap=None):
    """A heartbeat a minute from ``start`` to ``end``, none inside ``gap``."""
    rows, t = [], start
    while t <= end:
        if not (gap and gap[0] < t < gap[1]):
            rows.append(Heartbeat(pool=pool, ts=t, available={}, health="ok"))
        t += M
    Heartbeat.objects.bulk_create(rows, ignore_conflicts=True)


def posted(kind, *, org=None, purpose=None, source=None):
    rows = Posting.objects.filter(transaction__kind=kind)
    if org is not None:
        rows = rows.filter(account__organisation=org)
    if purpose is not None:
        rows = rows.filter(account__purpose=purpose)
    if source is not None:
        rows = rows.filter(transaction__source=source)
    return rows.aggregate(s=Sum("amount"))["s"] or Decimal("0.00")


def balance(purpose, org=None):
    return account_for(purpose=purpose, organisation=org).balance


def test_a_month_bills_settles_credits_and_reconciles_to_the_cent(retail, clock, operator):
    gridco_user, gridco = retail["provider"]
    acme_user, acme = retail["acme"]
    bolt_user, bolt = retail["bolt"]
    pool = retail["pool"]
    # --- wholesale: GridCo sells 8 H100 of a December week from a second pool; Acme lifts it
    big = connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-2", units=64)
    instrument = instrument_ensure(code=next_week_code())
    for user, org, side in ((gridco_user, gridco, "sell"), (acme_user, acme, "buy")):
        terms = OrderTerms(instrument=instrument.code, side=side, type="limit", qty=8, tif="GTC",
                           price=instrument.reference_price)  # fmt: skip
        order_place(actor=user, organisation=org, terms=terms, idempotency_key=f"w-{side}")
    instrument_match(instrument_id=instrument.pk)
    for delivering in (big, pool):  # whichever of GridCo's pools delivers it does so without a break
        beats(delivering, instrument.window_start - M, instrument.window_end + M)

    # --- retail: Acme per time 4 units 11:00–15:00 local, Bolt per volume 4 units 11:00–19:00
    reserve(retail, list_(retail, units=4), who="acme", units=4, start=NOW + H, end=NOW + 5 * H, key="t")
    metered_listing = list_(retail, billing=Billing.PER_VOLUME, units=4, price=Decimal("19.9900"))
    metered = reserve(retail, metered_listing, who="bolt", units=4, start=NOW + H, end=NOW + 9 * H, key="v")
    # the pool reports every minute, but falls silent for 10 minutes during Acme's reservation:
    # 600 s of 14,400 → 95.83 % available, below 99 % (MAIN commits 99.9 %) → 25 % credited
    beats(pool, NOW, NOW + 10 * H, gap=(NOW + 2 * H, NOW + 2 * H + 10 * M))

    clock["now"] = NOW + 10 * H
    records = [
        {"record_id": f"b{i}", "reservation": metered.pk, "meter": "gpu_seconds", "quantity": str(4 * 1800 - 7 * i),
         "start": (NOW + H + i * H / 2).isoformat(), "end": (NOW + H + (i + 1) * H / 2).isoformat()}
        for i in range(16)
    ]  # fmt: skip
    answers = usage_ingest(pool=pool, records=records[:15] + records[3:5], now=clock["now"])  # two repeats
    assert [a.status for a in answers].count("duplicate") == 2 and all(a.status != "rejected" for a in answers)
    reservations_complete(now=clock["now"])

    # --- the 1st of January: invoices, service levels, statements
    clock["now"] = JAN_1 + H
    issued = invoices_issue_due(now=clock["now"])
    assert len(issued) == 2
    assert sla_checks_due(now=clock["now"]) == 2  # the contract (fine) and Acme's reservation (not)
    credit = SlaCheck.objects.get(credit_note__isnull=False)
    assert (credit.credit_rate, credit.availability) == (Decimal("0.25"), Decimal("0.958333"))
    # Acme's reservation: 21.36 × 4 × 240 min / 60 = 341.76; 25 % = 85.44
    assert credit.credit_note.subtotal == Decimal("85.44")
    (statement_number,) = statements_issue_due(now=clock["now"])
    statement = Statement.objects.get(number=statement_number)
    invoices_collect(now=clock["now"])

    # a record of December arrives late: re-rated onto January's draft as an adjustment
    clock["now"] = JAN_1 + 2 * H
    assert usage_ingest(pool=pool, records=[records[15]], now=clock["now"])[0].status == "accepted"
    january = invoice_draft(organisation=bolt, period=date(2027, 1, 1))
    (adjustment,) = [line for line in january.lines.all() if line.kind == "adjustment"]
    assert adjustment.service_date == DECEMBER and adjustment.amount > 0

    # --- every document equals the ledger, to the cent
    invoices = list(Invoice.objects.filter(period=DECEMBER, kind="invoice"))
    notes = list(Invoice.objects.filter(kind="credit_note"))
    for invoice in invoices:
        source = f"invoice:{invoice.pk}"
        receivable = posted("invoice.issue", org=invoice.organisation, purpose=Purpose.BUYER_RECEIVABLE, source=source)
        assert receivable == invoice.total - invoice.prepaid
        paid = -posted("invoice.pay", org=invoice.organisation, purpose=Purpose.BUYER_RECEIVABLE, source=source)
        assert paid == invoice.paid == invoice.total - invoice.prepaid and invoice.status == "paid"
    assert balance(Purpose.VAT_PAYABLE) == sum(i.tax for i in invoices) - sum(n.tax for n in notes)
    for note in notes:
        assert -posted("credit_note.issue", org=note.organisation, purpose=Purpose.BUYER_CASH) == note.total
    assert balance(Purpose.COMMISSION_REVENUE) == statement.commission
    # GridCo's payable gained exactly its statement's net (nothing else happened to it)
    assert balance(Purpose.PROVIDER_PAYABLE, gridco) == statement.net
    retail_gross = sum(
        line.amount for i in invoices for line in i.lines.all() if line.kind in ("retail_time", "retail_volume")
    )
    wholesale_gross = sum(line.amount for i in invoices for line in i.lines.all() if line.kind == "wholesale")
    assert (statement.gross_retail, statement.gross_wholesale, statement.chargebacks) == (
        retail_gross,
        wholesale_gross,
        Decimal("85.44"),
    )
    assert balance(Purpose.BUYER_HOLDS, acme) == balance(Purpose.BUYER_HOLDS, bolt) == 0
    assert balance(Purpose.BUYER_RECEIVABLE, acme) == balance(Purpose.BUYER_RECEIVABLE, bolt) == 0

    # --- the reconciliation: only the payout is open; once paid, nothing is; the period closes
    checks = {(c.organisation.slug, c.check): c for c in reconcile(period=DECEMBER, now=clock["now"])}
    assert checks[("acme", "rerate_vs_invoice")].difference == 0
    assert checks[("bolt", "rerate_vs_invoice")].difference == 0
    assert checks[("acme", "prepaid_vs_ledger")].expected == checks[("acme", "prepaid_vs_ledger")].actual > 0
    assert [(c.organisation.slug, c.check) for c, _ in differences(period=DECEMBER)] == [
        ("gridco", "statement_vs_payout")
    ]
    payout_record(actor=operator, organisation=gridco, amount=statement.net, bank_transaction_id="dec-payout")
    assert differences(period=DECEMBER) == []
    period_close(actor=operator, period=DECEMBER, now=clock["now"])
