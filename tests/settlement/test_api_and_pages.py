"""Funds over REST and on the pages: balances, statement, holds, bank top-up, operator money."""

from decimal import Decimal

import pytest

from accounts.models import AuditEvent
from settlement.models import JournalTransaction, Purpose
from settlement.services import account_for, bank_reference_for, hold_place
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db
D = Decimal


def test_buyer_sees_funds_statement_and_holds(api, buyer, fund):
    user, org = buyer
    fund(org, "1000.00")
    hold_place(idempotency_key="h", organisation=org, amount=D("250.00"), reference="order:9")
    client = api(user)
    assert client.get("/api/v1/funds/").json() == {
        "currency": "CNY", "prepaid": "1000.00", "holds": "250.00", "credit_limit": "0.00", "available": "750.00",
    }  # fmt: skip
    statement = client.get("/api/v1/postings/").json()
    assert statement["count"] == 3  # top-up to cash; hold: cash → holds
    assert [(p["kind"], p["purpose"], p["amount"]) for p in statement["results"]] == [
        ("hold.place", "buyer_holds", "-250.00"),
        ("hold.place", "buyer_cash", "250.00"),
        ("topup.bank", "buyer_cash", "-1000.00"),
    ]
    assert client.get("/api/v1/postings/", {"kind": "topup.bank"}).json()["count"] == 1
    holds = client.get("/api/v1/holds/").json()["results"]
    assert [(h["reference"], h["remaining"], h["status"]) for h in holds] == [("order:9", "250.00", "open")]


def test_the_operator_reads_any_organisations_statement_by_slug(api, buyer, fund, operator):
    user, org = buyer
    fund(org, "1000.00")
    op = api(operator)
    assert [p["kind"] for p in op.get("/api/v1/postings/", {"organisation": org.slug}).json()["results"]] == [
        "topup.bank"
    ]
    assert op.get("/api/v1/postings/", {"organisation": "nobody"}).json()["count"] == 0
    r = op.get("/api/v1/postings/", {"organisation": "a\x00b"})  # not a slug (PostgreSQL takes no NUL)
    assert r.status_code == 400 and [e["code"] for e in r.json()["fields"]["organisation"]] == [
        "null_characters_not_allowed",
        "invalid",
    ]
    # for anyone else the parameter is ignored: their own statement
    assert api(user).get("/api/v1/postings/", {"organisation": "a\x00b"}).json()["count"] == 1


def test_bank_top_up_reference_is_stable(api, buyer):
    user, org = buyer
    first = api(user).post("/api/v1/topups/bank/").json()
    assert first["reference"].startswith("SL-") and len(first["reference"]) == 11
    assert api(user).post("/api/v1/topups/bank/").json()["reference"] == first["reference"]


def test_operator_records_a_transfer_once(api, buyer, operator):
    _, org = buyer
    ref = bank_reference_for(organisation=org).code
    op = api(operator)
    body = {"reference": ref.lower(), "amount": "88.80", "bank_transaction_id": "ICBC-2026-1"}
    r = op.post("/api/v1/operator/bank-transfers/", body)
    assert r.status_code == 400 and r.json()["fields"]["Idempotency-Key"][0]["code"] == "idempotency_key_required"
    r = op.post("/api/v1/operator/bank-transfers/", body, HTTP_IDEMPOTENCY_KEY="a")
    assert r.status_code == 201
    again = op.post("/api/v1/operator/bank-transfers/", body, HTTP_IDEMPOTENCY_KEY="b")  # same bank id
    assert again.status_code == 201 and again.json()["id"] == r.json()["id"]
    conflict = op.post("/api/v1/operator/bank-transfers/", {**body, "amount": "88.00"}, HTTP_IDEMPOTENCY_KEY="c")
    assert conflict.status_code == 409 and conflict.json()["code"] == "conflict"
    assert account_for(organisation=org, purpose=Purpose.BUYER_CASH).balance == D("88.80")
    assert AuditEvent.objects.filter(action="funds.bank_transfer", actor=operator).count() == 1


def test_adjustments_need_a_reason_and_are_idempotent(api, buyer, operator):
    _, org = buyer
    op = api(operator)
    body = {"organisation": org.slug, "purpose": "buyer_cash", "amount": "-10.00", "reason": ""}
    r = op.post("/api/v1/operator/adjustments/", body, HTTP_IDEMPOTENCY_KEY="adj-1")
    assert r.status_code == 400 and "reason" in r.json()["fields"]
    body["reason"] = "goodwill credit reversed"
    r = op.post("/api/v1/operator/adjustments/", body, HTTP_IDEMPOTENCY_KEY="adj-1")
    assert r.status_code == 400 and r.json()["code"] == "insufficient_funds"  # below -credit limit
    body["amount"] = "25.00"
    first = op.post("/api/v1/operator/adjustments/", body, HTTP_IDEMPOTENCY_KEY="adj-2")
    second = op.post("/api/v1/operator/adjustments/", body, HTTP_IDEMPOTENCY_KEY="adj-2")
    assert first.status_code == second.status_code == 201 and first.json()["id"] == second.json()["id"]
    assert account_for(organisation=org, purpose=Purpose.BUYER_CASH).balance == D("25.00")
    assert AuditEvent.objects.get(action="funds.adjustment").reason == "goodwill credit reversed"


def test_payouts_never_exceed_the_payable(api, seller, operator):
    _, org = seller
    op = api(operator)
    body = {"organisation": org.slug, "amount": "1.00", "bank_transaction_id": "PAY-1"}
    r = op.post("/api/v1/operator/payouts/", body, HTTP_IDEMPOTENCY_KEY="p1")
    assert r.status_code == 400 and r.json()["code"] == "insufficient_funds"
    assert JournalTransaction.objects.filter(kind="payout.bank").count() == 0


def test_a_bank_payout_entered_twice_posts_once(api, seller, operator):
    _, org = seller
    payable = account_for(organisation=org, purpose=Purpose.PROVIDER_PAYABLE)
    fees = account_for(purpose=Purpose.FEE_REVENUE)
    from settlement.services.ledger import Line, ledger_post

    ledger_post(idempotency_key="earned", kind="test", lines=[Line(fees, D("100.00")), Line(payable, D("-100.00"))])
    body = {"organisation": org.slug, "amount": "60.00", "bank_transaction_id": "PAY-7"}
    op = api(operator)
    first = op.post("/api/v1/operator/payouts/", body, HTTP_IDEMPOTENCY_KEY="form-1")
    second = op.post("/api/v1/operator/payouts/", body, HTTP_IDEMPOTENCY_KEY="form-2")  # re-entered after a reload
    assert first.status_code == second.status_code == 201 and first.json()["id"] == second.json()["id"]
    assert account_for(organisation=org, purpose=Purpose.PROVIDER_PAYABLE).balance == D("40.00")


def test_ledger_check_endpoint(api, operator, buyer, fund):
    fund(buyer[1], "5.00")
    op = api(operator)
    assert op.get("/api/v1/operator/ledger-check/").json()["ok"] is None
    assert op.post("/api/v1/operator/ledger-check/").json()["ok"] is True
    assert op.get("/api/v1/operator/ledger-check/").json()["ok"] is True


def test_non_operators_cannot_move_money(api, buyer):
    user, org = buyer
    r = api(user).post(
        "/api/v1/operator/adjustments/",
        {"organisation": org.slug, "purpose": "buyer_cash", "amount": "1000.00", "reason": "free money"},
        HTTP_IDEMPOTENCY_KEY="x",
    )
    assert r.status_code == 403
    assert account_for(organisation=org, purpose=Purpose.BUYER_CASH).balance == 0


def test_pages(client, buyer, fund, operator):
    user, org = buyer
    fund(org, "1234.56")
    client.force_login(user)
    page = client.get("/funds/").content.decode()
    assert "¥1,234.56" in page and bank_reference_for(organisation=org).code in page
    client.logout()
    sign_in(client, operator)
    page = client.get("/operator/money/").content.decode()
    assert "Record a bank transfer received" in page
    r = client.post(
        "/operator/money/",
        {"form": "adjust", "idempotency_key": "k1", "adjust-organisation": org.slug, "adjust-purpose": "buyer_cash",
         "adjust-amount": "5.00", "adjust-reason": ""},
    )  # fmt: skip
    assert r.status_code == 200 and "required" in r.content.decode()
    form = {"form": "adjust", "idempotency_key": "k2", "adjust-organisation": org.slug, "adjust-purpose": "buyer_cash",
            "adjust-amount": "5.00", "adjust-reason": "cheque fee refund"}  # fmt: skip
    assert client.post("/operator/money/", form).status_code == 302
    assert client.post("/operator/money/", form).status_code == 302  # a double submit posts once
    assert account_for(organisation=org, purpose=Purpose.BUYER_CASH).balance == D("1239.56")
    assert "¥1,239.56" in client.get(f"/operator/organisations/{org.slug}/ledger/").content.decode()


def test_operator_money_shows_what_providers_are_owed_and_says_what_was_posted(client, seller, buyer, operator):
    from settlement.services.ledger import Line, ledger_post

    _, provider = seller
    _, payer = buyer
    payable = account_for(organisation=provider, purpose=Purpose.PROVIDER_PAYABLE)
    fees = account_for(purpose=Purpose.FEE_REVENUE)
    ledger_post(idempotency_key="earned", kind="test", lines=[Line(fees, D("100.00")), Line(payable, D("-100.00"))])
    sign_in(client, operator)
    page = client.get("/operator/money/").content.decode()
    assert f'<code>{provider.slug}</code></td><td class="num">¥100.00</td>' in page
    payout = {"form": "payout", "idempotency_key": "k1", "payout-organisation": provider.slug,
              "payout-amount": "60.00", "payout-bank_transaction_id": "PAY-7"}  # fmt: skip
    page = client.post("/operator/money/", payout, follow=True).content.decode()
    assert f"Payout PAY-7: ¥60.00 paid out of {provider.slug}&#x27;s payable." in page
    assert "¥40.00" in page
    page = client.post("/operator/money/", {**payout, "idempotency_key": "k2"}, follow=True).content.decode()
    assert "Already recorded: nothing was posted again." in page
    assert account_for(organisation=provider, purpose=Purpose.PROVIDER_PAYABLE).balance == D("40.00")
    reference = bank_reference_for(organisation=payer).code
    bank = {"form": "bank", "idempotency_key": "k3", "bank-reference": reference, "bank-amount": "12.50",
            "bank-bank_transaction_id": "IN-1"}  # fmt: skip
    page = client.post("/operator/money/", bank, follow=True).content.decode()
    assert f"Bank transfer IN-1: ¥12.50 to the prepaid funds of reference {reference}." in page
