"""The operator's reconciliation of a period: checks, differences, explanations, closing, CSV."""

from decimal import Decimal

import pytest

from config.errors import ExchangeError
from settlement.models import Purpose, ReconciliationClose
from settlement.services import account_for, adjustment_post, payout_record
from settlement.services.invoices import invoices_issue_due
from settlement.services.reconciliation import (
    difference_explain,
    differences,
    period_close,
    reconcile,
    reconciliation_csv,
)
from settlement.services.statements import statements_issue_due
from tests.conftest import sign_in
from tests.settlement.test_invoices import after, period, trade

pytestmark = pytest.mark.django_db


def open_differences(market):
    return {(c.organisation.slug, c.check): c.difference for c, note in differences(period=period(market)) if not note}


def test_a_month_reconciles_once_invoices_are_paid_and_statements_paid_out(market, operator, client):
    gridco = market["orgs"]["gridco"]
    trade(market, buyer="acme")
    trade(market, buyer="bolt", qty=16)
    cash = account_for(purpose=Purpose.BUYER_CASH, organisation=market["orgs"]["bolt"]).balance
    adjustment_post(actor=operator, organisation=market["orgs"]["bolt"], purpose=Purpose.BUYER_CASH, amount=-cash,
                    reason="test: bolt has spent its funds", idempotency_key="spend")  # fmt: skip
    assert {c.check for c in reconcile(period=period(market))} == {"invoice_issued", "statement_issued"}
    invoices_issue_due(now=after(market))
    (number,) = statements_issue_due(now=after(market))
    checks = {(c.organisation.slug, c.check): c for c in reconcile(period=period(market), now=after(market))}
    assert checks[("acme", "charges_vs_invoice")].difference == 0
    assert (
        checks[("acme", "invoice_vs_ledger")].expected
        == Decimal("970.58")
        == checks[("acme", "invoice_vs_ledger")].actual
    )
    assert checks[("acme", "payments_vs_ledger")].actual == Decimal("970.58")
    assert checks[("gridco", "commission_vs_ledger")].actual == Decimal("483.84")
    # bolt's VAT is unpaid; GridCo's net is not paid out yet
    bolt_vat = Decimal("1941.17")  # 6 % of (32,256.00 + 96.77) = 1,941.1662
    net = checks[("gridco", "statement_vs_payout")].expected
    assert open_differences(market) == {("bolt", "invoice_unpaid"): -bolt_vat, ("gridco", "statement_vs_payout"): -net}

    with pytest.raises(ExchangeError) as exc:
        period_close(actor=operator, period=period(market), now=after(market))
    assert exc.value.code == "unexplained_differences" and len(exc.value.fields["differences"]) == 2
    with pytest.raises(ExchangeError) as exc:
        difference_explain(actor=operator, period=period(market), key=checks[("bolt", "invoice_unpaid")].key,
                           difference=-bolt_vat, reason="  ")  # fmt: skip
    assert exc.value.code == "reason_required"
    difference_explain(actor=operator, period=period(market), key=checks[("bolt", "invoice_unpaid")].key,
                       difference=-bolt_vat, reason="Bolt pays by bank transfer on the 10th")  # fmt: skip
    payout_record(actor=operator, organisation=gridco, amount=net, bank_transaction_id="payout-1")
    assert open_differences(market) == {}

    sign_in(client, operator)  # operators sign in with their second factor
    page = client.get(f"/operator/reconciliation/?period={period(market):%Y-%m}").content.decode()
    assert "Bolt pays by bank transfer on the 10th" in page and number in page
    csv = reconciliation_csv(period=period(market))
    assert "bolt,buyer,invoice_unpaid" in csv and "Bolt pays by bank transfer on the 10th" in csv

    closed = period_close(actor=operator, period=period(market), now=after(market))
    assert ReconciliationClose.objects.get() == closed
    with pytest.raises(ExchangeError) as exc:
        difference_explain(actor=operator, period=period(market), key="x", difference=Decimal(1), reason="late")
    assert exc.value.code == "period_closed"


def test_an_explanation_covers_only_the_difference_it_explained(market, operator):
    trade(market, buyer="bolt", qty=16)
    bolt = market["orgs"]["bolt"]
    cash = account_for(purpose=Purpose.BUYER_CASH, organisation=bolt).balance
    adjustment_post(actor=operator, organisation=bolt, purpose=Purpose.BUYER_CASH, amount=-cash,
                    reason="test: spent", idempotency_key="spend")  # fmt: skip
    invoices_issue_due(now=after(market))
    (check, _), *_ = [(c, n) for c, n in differences(period=period(market)) if c.check == "invoice_unpaid"]
    difference_explain(actor=operator, period=period(market), key=check.key, difference=check.difference,
                       reason="promised to pay")  # fmt: skip
    assert ("bolt", "invoice_unpaid") not in open_differences(market)
    # a part payment changes the difference: the old explanation no longer covers it
    from settlement.services import bank_reference_for, bank_transfer_record
    from settlement.services.invoices import invoices_collect

    bank_transfer_record(actor=operator, reference=bank_reference_for(organisation=bolt).code,
                         amount=Decimal("100.00"), bank_transaction_id="part")  # fmt: skip
    invoices_collect()
    assert open_differences(market)[("bolt", "invoice_unpaid")] == check.difference + Decimal("100.00")


def test_only_operators_reconcile(market, client):
    client.force_login(market["users"]["acme"])
    assert client.get("/operator/reconciliation/").status_code in (302, 403)
    assert client.get("/operator/reconciliation/export.csv").status_code in (302, 403)


def test_a_month_still_running_cannot_be_closed_from_the_page(operator, client):
    from django.utils import timezone

    from settlement.services.invoices import period_of

    sign_in(client, operator)
    page = client.get(f"/operator/reconciliation/?period={period_of(timezone.now()):%Y-%m}").content.decode()
    assert "This month has not ended yet" in page and '<button type="submit" disabled>Close the period' in page
    page = client.get("/operator/reconciliation/").content.decode()  # last month, by default
    assert "This month has not ended yet" not in page and '<button type="submit">Close the period' in page
