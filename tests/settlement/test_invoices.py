"""Monthly invoices and credit notes (trading standard §11) on the database."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from config.errors import ExchangeError
from marketplace.services import OrderTerms, instrument_match, order_place
from settlement.models import BillingProfile, Invoice, InvoiceLine, InvoiceStatus, Purpose
from settlement.services import (
    account_for,
    adjustment_post,
    available_funds,
    bank_reference_for,
    bank_transfer_record,
    payout_record,
)
from settlement.services.invoices import (
    _next_number,
    credit_note_issue,
    invoice_collect,
    invoice_draft,
    invoice_issue,
    invoices_collect,
    invoices_issue_due,
    period_bounds,
    period_of,
)
from settlement.templatetags.money import yuan

pytestmark = pytest.mark.django_db


def trade(market, buyer="acme", qty=8, price="12.00"):
    """GridCo asks, ``buyer`` lifts it: one trade, buyer taker, on next week's instrument."""
    trade.n = getattr(trade, "n", 0) + 1
    code = market["instrument"].code
    for org, side in (("gridco", "sell"), (buyer, "buy")):
        terms = OrderTerms(instrument=code, side=side, type="limit", qty=qty, tif="GTC", price=Decimal(price))
        order_place(actor=market["users"][org], organisation=market["orgs"][org], terms=terms,
                    idempotency_key=f"{org}-{trade.n}")  # fmt: skip
    instrument_match(instrument_id=market["instrument"].pk)


def period(market):
    return period_of(market["instrument"].window_start)


def after(market, **delta):
    """An instant once the instrument's billing month has ended."""
    return period_bounds(period(market))[1] + timedelta(**(delta or {"hours": 1}))


def balance(purpose, org=None):
    return account_for(purpose=purpose, organisation=org).balance


def test_a_wholesale_contract_is_drafted_with_its_fee_prepaid_and_vat_due(market):
    trade(market)
    invoice = invoice_draft(organisation=market["orgs"]["acme"], period=period(market))
    lines = list(invoice.lines.order_by("id"))
    # 12.00 × 8 × 168 = 16,128.00; taker fee 0.30 % = 48.384 → 48.38
    assert [(line.kind, line.amount, line.prepaid) for line in lines] == [
        ("wholesale", Decimal("16128.00"), True),
        ("trade_fee", Decimal("48.38"), True),
    ]
    assert lines[0].provider == market["orgs"]["gridco"] and lines[0].quantity == Decimal(8 * 168)
    # VAT 6 % of 16,176.38 = 970.5828 → 970.58
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        Decimal("16176.38"),
        Decimal("970.58"),
        Decimal("17146.96"),
    )
    assert (invoice.status, invoice.number, invoice.due) == ("draft", None, Decimal("970.58"))
    # redrafting after another trade replaces the lines, never adds twice
    trade(market, qty=16)  # 32,256.00 and its fee 96.768 → 96.77
    invoice = invoice_draft(organisation=market["orgs"]["acme"], period=period(market))
    assert invoice.lines.count() == 4
    assert invoice.subtotal == Decimal("16176.38") + Decimal("32256.00") + Decimal("96.77")


def test_issue_numbers_posts_vat_receivable_and_collects_it_from_prepaid_funds(market):
    trade(market)
    acme = market["orgs"]["acme"]
    draft = invoice_draft(organisation=acme, period=period(market))
    with pytest.raises(ExchangeError) as exc:
        invoice_issue(invoice_id=draft.pk, now=after(market, hours=-2))
    assert exc.value.code == "period_open"
    cash_before, vat_before = balance(Purpose.BUYER_CASH, acme), balance(Purpose.VAT_PAYABLE)

    invoice = invoice_issue(invoice_id=draft.pk, now=after(market))
    assert invoice.number == f"INV-{period(market):%Y}-000001"
    assert (invoice.status, invoice.paid, invoice.due) == (InvoiceStatus.PAID, Decimal("970.58"), 0)
    assert invoice.buyer_details["name"] == "Acme AI"
    assert balance(Purpose.VAT_PAYABLE) - vat_before == Decimal("970.58")
    assert cash_before - balance(Purpose.BUYER_CASH, acme) == Decimal("970.58")
    assert balance(Purpose.BUYER_RECEIVABLE, acme) == 0
    # issuing again changes nothing
    assert invoice_issue(invoice_id=draft.pk, now=after(market, days=3)).number == invoice.number
    assert balance(Purpose.VAT_PAYABLE) - vat_before == Decimal("970.58")


def test_numbers_have_no_gaps_even_when_an_issue_rolls_back(market):
    with pytest.raises(RuntimeError), transaction.atomic():
        _next_number("INV-2099")
        raise RuntimeError("the issuing transaction failed")
    assert _next_number("INV-2099") == "INV-2099-000001"
    assert _next_number("INV-2099") == "INV-2099-000002"


def test_the_periodic_task_issues_last_months_invoices_once(market):
    trade(market, buyer="acme")
    trade(market, buyer="bolt", qty=16)
    assert invoices_issue_due(now=after(market, hours=-2)) == []  # the month has not ended
    numbers = invoices_issue_due(now=after(market))
    year = f"{period(market):%Y}"
    assert numbers == [f"INV-{year}-000001", f"INV-{year}-000002"]
    assert invoices_issue_due(now=after(market, days=1)) == []
    assert set(Invoice.objects.values_list("organisation__slug", "status")) == {("acme", "paid"), ("bolt", "paid")}


def test_a_tax_exempt_buyer_pays_no_vat_and_a_prepaid_invoice_is_paid_at_issue(market):
    trade(market)
    acme = market["orgs"]["acme"]
    BillingProfile.objects.create(organisation=acme, tax_exempt=True, legal_name="Acme AI Ltd.", tax_id="91310000X")
    (number,) = invoices_issue_due(now=after(market))
    invoice = Invoice.objects.get(number=number)
    assert (invoice.tax, invoice.total, invoice.status) == (0, Decimal("16176.38"), "paid")
    assert invoice.buyer_details["tax_id"] == "91310000X" and invoice.buyer_details["name"] == "Acme AI Ltd."


def test_an_unpaid_invoice_becomes_overdue_and_is_collected_when_funds_arrive(market, operator):
    acme = market["orgs"]["acme"]
    trade(market)
    # acme spends the rest of its prepaid funds (an operator adjustment stands in for spending)
    cash = balance(Purpose.BUYER_CASH, acme)
    adjustment_post(actor=operator, organisation=acme, purpose=Purpose.BUYER_CASH, amount=-cash,
                    reason="test: spend it all", idempotency_key="spend")  # fmt: skip
    (number,) = invoices_issue_due(now=after(market))
    invoice = Invoice.objects.get(number=number)
    assert (invoice.status, invoice.due) == ("issued", Decimal("970.58"))
    assert balance(Purpose.BUYER_RECEIVABLE, acme) == Decimal("970.58")
    assert invoice.due_at == after(market) + timedelta(days=15)  # overdue after that (credit limit gone)

    bank_transfer_record(actor=operator, reference=bank_reference_for(organisation=acme).code,
                         amount=Decimal("500.00"), bank_transaction_id="b-1")  # fmt: skip
    assert invoices_collect(now=after(market, days=16)) == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid, invoice.due) == ("issued", Decimal("500.00"), Decimal("470.58"))
    assert invoice_collect(invoice_id=invoice.pk) == 0  # nothing left to take
    bank_transfer_record(actor=operator, reference=bank_reference_for(organisation=acme).code,
                         amount=Decimal("1000.00"), bank_transaction_id="b-2")  # fmt: skip
    invoices_collect(now=after(market, days=17))
    invoice.refresh_from_db()
    assert (invoice.status, invoice.due) == ("paid", 0)
    assert balance(Purpose.BUYER_CASH, acme) == Decimal("529.42")
    assert balance(Purpose.BUYER_RECEIVABLE, acme) == 0


def test_a_credit_note_credits_the_buyer_with_vat_and_charges_the_provider_back(market, operator):
    acme, gridco = market["orgs"]["acme"], market["orgs"]["gridco"]
    trade(market)
    (number,) = invoices_issue_due(now=after(market))
    invoice = Invoice.objects.get(number=number)
    cash, payable = balance(Purpose.BUYER_CASH, acme), balance(Purpose.PROVIDER_PAYABLE, gridco)
    note = credit_note_issue(actor=operator, invoice_id=invoice.pk, amount=Decimal("1612.80"),
                             reason="SLA: 10 % of the month's charge", provider_id=gridco.pk,
                             now=after(market, days=2), idempotency_key="sla-1")  # fmt: skip
    # VAT at the invoice's rate on the credit: 96.768 → 96.77
    assert (note.kind, note.subtotal, note.tax, note.total) == ("credit_note", Decimal("1612.80"), Decimal("96.77"),
                                                                 Decimal("1709.57"))  # fmt: skip
    assert note.number == f"CN-{after(market, days=2):%Y}-000001" and note.corrects == invoice
    assert balance(Purpose.BUYER_CASH, acme) - cash == Decimal("1709.57")
    assert payable - balance(Purpose.PROVIDER_PAYABLE, gridco) == Decimal("1612.80")
    again = credit_note_issue(actor=operator, invoice_id=invoice.pk, amount=Decimal("1612.80"),
                              reason="SLA: 10 % of the month's charge", provider_id=gridco.pk,
                              idempotency_key="sla-1")  # fmt: skip
    assert again == note and Invoice.objects.filter(kind="credit_note").count() == 1

    with pytest.raises(ExchangeError) as exc:
        credit_note_issue(actor=operator, invoice_id=invoice.pk, amount=Decimal("14563.59"), reason="too much")
    assert exc.value.fields["amount"][0]["code"] == "exceeds_invoice"
    with pytest.raises(ExchangeError) as exc:
        credit_note_issue(actor=operator, invoice_id=invoice.pk, amount=Decimal("1.00"), reason=" ")
    assert exc.value.code == "reason_required"


@pytest.mark.postgres
def test_an_issued_invoice_is_never_changed_in_the_database(market):
    trade(market)
    (number,) = invoices_issue_due(now=after(market))
    invoice = Invoice.objects.get(number=number)
    line = invoice.lines.first()
    attempts = [
        lambda: Invoice.objects.filter(pk=invoice.pk).update(total=Decimal("1.00")),
        lambda: Invoice.objects.filter(pk=invoice.pk).update(status="draft", number=None),
        lambda: Invoice.objects.filter(pk=invoice.pk).delete(),
        lambda: InvoiceLine.objects.filter(pk=line.pk).update(amount=Decimal("1.00")),
        lambda: InvoiceLine.objects.filter(pk=line.pk).delete(),
        lambda: InvoiceLine.objects.create(invoice=invoice, kind="correction", description="x", amount=1),
    ]
    for attempt in attempts:
        with pytest.raises(IntegrityError), transaction.atomic():
            attempt()
    invoice.refresh_from_db()
    assert (invoice.total, invoice.lines.count()) == (Decimal("17146.96"), 2)


def pdf_text(content: bytes) -> str:
    import io

    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_buyer_reads_its_invoices_and_downloads_the_pdf(market, client, api):
    trade(market)
    (number,) = invoices_issue_due(now=after(market))
    invoice = Invoice.objects.get(number=number)
    client.force_login(market["users"]["acme"])
    page = client.get("/invoices/")
    assert number in page.content.decode() and "¥17,146.96" in page.content.decode()
    detail = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert "¥16,128.00" in detail and "¥48.38" in detail and "paid at the trade" in detail
    r = client.get(f"/invoices/{invoice.pk}/pdf/")
    assert r["Content-Type"] == "application/pdf" and r.content.startswith(b"%PDF")
    text = pdf_text(r.content)
    for expected in (number, "Acme AI", "¥16,128.00", "¥48.38", "¥970.58", "¥17,146.96", "VAT 增值税 6 %"):
        assert expected in text, expected

    buyer = api(market["users"]["acme"])
    (row,) = buyer.get("/api/v1/invoices/").data["results"]
    assert (row["number"], row["total"], row["due"], row["period"]) == (
        number,
        "17146.96",
        "0.00",
        f"{period(market):%Y-%m}",
    )
    assert [line["amount"] for line in row["lines"]] == ["16128.00", "48.38"]
    assert buyer.get(f"/api/v1/invoices/{invoice.pk}/pdf/").content.startswith(b"%PDF")
    # another organisation sees nothing of it
    other = api(market["users"]["bolt"])
    assert other.get("/api/v1/invoices/").data["results"] == []
    assert other.get(f"/api/v1/invoices/{invoice.pk}/").status_code == 404
    client.force_login(market["users"]["bolt"])
    assert client.get(f"/invoices/{invoice.pk}/pdf/").status_code == 404


def test_the_operator_issues_a_credit_note_over_the_api(market, api, operator):
    trade(market)
    (number,) = invoices_issue_due(now=after(market))
    invoice = Invoice.objects.get(number=number)
    op = api(operator)
    url = f"/api/v1/operator/invoices/{invoice.pk}/credit-notes/"
    body = {"amount": "100.00", "reason": "Goodwill: late delivery", "charge_back": "gridco"}
    assert op.post(url, body).status_code == 400  # Idempotency-Key is required
    r = op.post(url, body, HTTP_IDEMPOTENCY_KEY="cn-1")
    assert r.status_code == 201, r.content
    assert (r.data["kind"], r.data["total"], r.data["corrects"]) == ("credit_note", "106.00", number)
    assert op.post(url, body, HTTP_IDEMPOTENCY_KEY="cn-1").data["id"] == r.data["id"]
    r = op.post(url, {**body, "charge_back": "acme"}, HTTP_IDEMPOTENCY_KEY="cn-2")
    assert r.status_code == 400 and r.data["fields"]["charge_back"][0]["code"] == "not_found"
    assert api(market["users"]["acme"]).post(url, body, HTTP_IDEMPOTENCY_KEY="cn-3").status_code == 403
    assert Invoice.objects.filter(kind="credit_note").count() == 1


def test_the_providers_statement_nets_gross_commission_fees_and_chargebacks_like_its_payable(
    market, operator, client, api
):
    from settlement.models import Statement
    from settlement.services.statements import statements_issue_due

    gridco = market["orgs"]["gridco"]
    payable_before = balance(Purpose.PROVIDER_PAYABLE, gridco)
    trade(market, buyer="acme")  # 16,128.00; GridCo is the maker: fee 0.10 % = 16.128 → 16.13
    trade(market, buyer="bolt", qty=16)  # 32,256.00; maker fee 32.256 → 32.26
    assert statements_issue_due(now=after(market)) == []  # invoices first
    invoices_issue_due(now=after(market))
    acme_invoice = Invoice.objects.get(organisation=market["orgs"]["acme"])
    credit_note_issue(actor=operator, invoice_id=acme_invoice.pk, amount=Decimal("1612.80"), reason="SLA credit",
                      provider_id=gridco.pk, now=after(market, hours=2))  # fmt: skip
    (number,) = statements_issue_due(now=after(market, hours=3))
    s = Statement.objects.get(number=number)
    assert number == f"ST-{period(market):%Y}-000001"
    assert (s.gross_retail, s.gross_wholesale) == (0, Decimal("48384.00"))
    assert (s.commission_wholesale, s.trade_fees, s.chargebacks) == (
        Decimal("483.84"),
        Decimal("48.39"),
        Decimal("1612.80"),
    )
    assert s.net == Decimal("48384.00") - Decimal("483.84") - Decimal("48.39") - Decimal("1612.80")
    assert balance(Purpose.PROVIDER_PAYABLE, gridco) - payable_before == s.net
    assert statements_issue_due(now=after(market, days=1)) == []  # once
    assert balance(Purpose.PROVIDER_PAYABLE, gridco) - payable_before == s.net

    payout_record(actor=operator, organisation=market["orgs"]["gridco"], amount=s.net, bank_transaction_id="po-1")
    client.force_login(market["users"]["gridco"])
    page = client.get("/statements/").content.decode()
    assert number in page and yuan(s.net) in page and "bank transfer" in page
    assert page.count(yuan(s.net)) >= 2  # the statement's net and the payout of it
    detail = client.get(f"/statements/{s.pk}/").content.decode()
    assert "¥16,128.00" in detail and "¥32,256.00" in detail and "¥1,612.80" in detail
    assert "Acme" not in detail  # the provider sees the charge, not who paid it
    (row,) = api(market["users"]["gridco"]).get("/api/v1/statements/").data["results"]
    assert (row["number"], row["net"], row["chargebacks"], row["period"]) == (
        number,
        str(s.net),
        "1612.80",
        f"{period(market):%Y-%m}",
    )


def test_an_overdue_invoice_takes_the_credit_limit_away_until_it_is_paid(market):
    from datetime import date

    from django.utils import timezone

    bolt = market["orgs"]["bolt"]
    cash = balance(Purpose.BUYER_CASH, bolt)
    bolt.credit_limit = Decimal("400000.00")
    bolt.save(update_fields=["credit_limit"])
    now = timezone.now()
    overdue = Invoice.objects.create(
        organisation=bolt, period=date(2026, 9, 1), number="INV-2026-900001", status="issued",
        tax_rate=Decimal("0.06"), subtotal=Decimal("100.00"), tax=Decimal("6.00"), total=Decimal("106.00"),
        issued_at=now - timedelta(days=20), due_at=now - timedelta(days=5),
    )  # fmt: skip
    code = market["instrument"].code
    # a bid that needs the credit limit: 12.00 × 8 × 168 × 80 lots ≈ 1.29 M > prepaid funds of 1 M
    big = OrderTerms(instrument=code, side="buy", type="limit", qty=8 * 80, tif="GTC", price=Decimal("12.00"))
    assert available_funds(organisation=bolt).credit_limit == 0
    with pytest.raises(ExchangeError) as exc:
        order_place(actor=market["users"]["bolt"], organisation=bolt, terms=big, idempotency_key="big-1")
    assert exc.value.code == "insufficient_funds"
    Invoice.objects.filter(pk=overdue.pk).update(status="paid", paid=Decimal("106.00"), paid_at=now)
    order = order_place(actor=market["users"]["bolt"], organisation=bolt, terms=big, idempotency_key="big-2")
    assert cash == Decimal("1000000.00") and order.hold_id
    assert -Decimal("400000.00") <= balance(Purpose.BUYER_CASH, bolt) < 0  # into the credit limit again


def test_the_operator_sets_tax_exemption_in_the_admin_and_issued_invoices_are_read_only(market, client, operator):
    from accounts.models import AuditEvent
    from tests.conftest import sign_in

    operator.is_staff = operator.is_superuser = True  # as tests/catalog/test_admin.py's staff operator
    operator.save()
    sign_in(client, operator)
    acme = market["orgs"]["acme"]
    r = client.post("/admin/settlement/billingprofile/add/", {"organisation": acme.pk, "legal_name": "Acme AI Ltd.",
                    "tax_id": "91310000X", "address": "", "email": "", "tax_exempt": "on"})  # fmt: skip
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    assert BillingProfile.objects.get(organisation=acme).tax_exempt
    assert AuditEvent.objects.filter(action="admin.billingprofile.add").exists()
    trade(market)
    (number,) = invoices_issue_due(now=after(market))
    invoice = Invoice.objects.get(number=number)
    assert invoice.tax == 0
    assert client.get(f"/admin/settlement/invoice/{invoice.pk}/change/").status_code == 200
    client.post(f"/admin/settlement/invoice/{invoice.pk}/change/", {"total": "1.00"})
    invoice.refresh_from_db()
    assert invoice.total == Decimal("16176.38")


def test_a_wholesale_invoice_re_rates_as_per_time_cases(market):
    from settlement.services.rating_cases import invoice_rerate

    trade(market)
    (number,) = invoices_issue_due(now=after(market))
    (checked,) = invoice_rerate(Invoice.objects.get(number=number))
    assert (checked.rated, checked.case.billed, checked.case.case.product.billing) == (
        Decimal("16128.00"),
        Decimal("16128.00"),
        "per_time",
    )


def test_the_buyer_pays_an_unpaid_invoice_from_the_invoice_page_once_funds_arrive(market, client, operator):
    bolt = market["orgs"]["bolt"]
    trade(market, buyer="bolt")
    cash = balance(Purpose.BUYER_CASH, bolt)
    adjustment_post(actor=operator, organisation=bolt, purpose=Purpose.BUYER_CASH, amount=-cash,
                    reason="test: spent", idempotency_key="spend")  # fmt: skip
    (number,) = invoices_issue_due(now=after(market))
    invoice = Invoice.objects.get(number=number)
    client.force_login(market["users"]["bolt"])
    page = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert "Pay ¥970.58" in page and bank_reference_for(organisation=bolt).code in page and "VAT 6 %" in page
    r = client.post(f"/invoices/{invoice.pk}/pay/", follow=True)
    assert "Nothing paid" in r.content.decode()
    from accounts.models import Membership
    from tests.factories import UserFactory

    viewer = UserFactory()
    Membership.objects.create(user=viewer, organisation=bolt, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    assert "Viewers cannot change anything" in client.post(f"/invoices/{invoice.pk}/pay/", follow=True).content.decode()
    client.force_login(market["users"]["bolt"])
    bank_transfer_record(actor=operator, reference=bank_reference_for(organisation=bolt).code,
                         amount=Decimal("1000.00"), bank_transaction_id="b-pay")  # fmt: skip
    r = client.post(f"/invoices/{invoice.pk}/pay/", follow=True)
    assert "Paid ¥970.58" in r.content.decode()
    invoice.refresh_from_db()
    assert (invoice.status, invoice.due) == ("paid", 0)
    assert "Pay ¥" not in client.get(f"/invoices/{invoice.pk}/").content.decode()
    client.force_login(market["users"]["acme"])
    assert client.post(f"/invoices/{invoice.pk}/pay/").status_code == 404  # not Acme's
