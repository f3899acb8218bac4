"""Provider payouts by Stripe Connect transfer, with the real stripe client.

localstripe has no transfers, so this test serves Stripe's POST /v1/transfers itself: a
boundary fake of the external API, answering a repeated idempotency key with its first answer
as Stripe does. Our code under test is all real."""

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from settlement.models import Purpose, StripeTransfer, TransferStatus
from settlement.services import account_for, payout_stripe_create, stripe_transfers_resolve
from settlement.services.ledger import Line, ledger_post

pytestmark = pytest.mark.django_db
D = Decimal


class FakeTransfers(BaseHTTPRequestHandler):
    answers: dict = {}
    calls: list = []

    def do_POST(self):  # noqa: N802
        body = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        key = self.headers.get("Idempotency-Key")
        self.calls.append((self.path, key, body))
        if key not in self.answers:
            if body["destination"][0] == "acct_refuses":
                self.answers[key] = (
                    400,
                    {"error": {"type": "invalid_request_error", "message": "No such destination"}},
                )
            else:
                self.answers[key] = (
                    200,
                    {
                        "id": f"tr_{len(self.answers) + 1}",
                        "object": "transfer",
                        "amount": int(body["amount"][0]),
                        "currency": body["currency"][0],
                        "destination": body["destination"][0],
                    },
                )
        code, payload = self.answers[key]
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_stripe(settings):
    FakeTransfers.answers, FakeTransfers.calls = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTransfers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()


@pytest.fixture
def provider_with_payable(seller):
    _, org = seller
    org.stripe_account_id = "acct_1Provider"
    org.save()
    payable = account_for(organisation=org, purpose=Purpose.PROVIDER_PAYABLE)
    ledger_post(
        idempotency_key="earned",
        kind="test.earned",
        lines=[Line(account_for(purpose=Purpose.FEE_REVENUE), D("500.00")), Line(payable, D("-500.00"))],
    )
    return org


def test_a_stripe_payout_reserves_then_settles(api, operator, provider_with_payable, fake_stripe):
    org = provider_with_payable
    body = {"organisation": org.slug, "amount": "300.00", "method": "stripe"}
    r = api(operator).post("/api/v1/operator/payouts/", body, HTTP_IDEMPOTENCY_KEY="po-1")
    assert r.status_code == 202 and r.json()["status"] == "paid" and r.json()["transfer_id"] == "tr_1"
    again = api(operator).post("/api/v1/operator/payouts/", body, HTTP_IDEMPOTENCY_KEY="po-1")
    assert again.json()["id"] == r.json()["id"]
    assert len(FakeTransfers.calls) == 1
    path, key, sent = FakeTransfers.calls[0]
    assert path == "/v1/transfers" and sent["amount"] == ["30000"] and sent["destination"] == ["acct_1Provider"]
    assert key == StripeTransfer.objects.get().stripe_idempotency_key
    assert account_for(organisation=org, purpose=Purpose.PROVIDER_PAYABLE).balance == D("200.00")
    assert account_for(purpose=Purpose.PAYOUTS_IN_TRANSIT).balance == 0


def test_never_beyond_the_payable(operator, provider_with_payable, fake_stripe):
    from config.errors import ExchangeError

    with pytest.raises(ExchangeError) as err:
        payout_stripe_create(actor=operator, organisation=provider_with_payable, amount=D("500.01"), request_key="x")
    assert err.value.code == "insufficient_funds"
    assert StripeTransfer.objects.count() == 0 and FakeTransfers.calls == []


def test_a_refused_transfer_returns_the_money_to_the_payable(operator, provider_with_payable, fake_stripe):
    org = provider_with_payable
    org.stripe_account_id = "acct_refuses"
    org.save()
    transfer = payout_stripe_create(actor=operator, organisation=org, amount=D("100.00"), request_key="r")
    assert transfer.status == TransferStatus.FAILED and "No such destination" in transfer.error
    assert account_for(organisation=org, purpose=Purpose.PROVIDER_PAYABLE).balance == D("500.00")


def test_an_unanswered_transfer_is_sent_again_under_the_same_key(
    operator, provider_with_payable, fake_stripe, settings
):
    org = provider_with_payable
    working = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing answers there
    transfer = payout_stripe_create(actor=operator, organisation=org, amount=D("120.00"), request_key="u")
    assert transfer.status == TransferStatus.UNKNOWN
    assert account_for(organisation=org, purpose=Purpose.PROVIDER_PAYABLE).balance == D("380.00")  # reserved
    settings.STRIPE_API_BASE = working
    assert stripe_transfers_resolve() == 1
    assert stripe_transfers_resolve() == 0
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PAID
    assert [k for _, k, _ in FakeTransfers.calls] == [transfer.stripe_idempotency_key]
    assert account_for(purpose=Purpose.STRIPE_CLEARING).balance == D("-120.00")


def test_an_old_unknown_transfer_is_settled_by_the_operator(api, operator, provider_with_payable, settings):
    from datetime import timedelta

    from django.utils import timezone

    org = provider_with_payable
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    transfer = payout_stripe_create(actor=operator, organisation=org, amount=D("50.00"), request_key="old")
    StripeTransfer.objects.filter(pk=transfer.pk).update(created_at=timezone.now() - timedelta(hours=24))
    assert stripe_transfers_resolve() == 1  # looked at, not resent: Stripe may have forgotten the key
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.UNKNOWN
    op = api(operator)
    listed = op.get("/api/v1/operator/stripe-transfers/", {"status": "unknown"}).json()["results"]
    assert [t["id"] for t in listed] == [transfer.pk]
    r = op.post(f"/api/v1/operator/stripe-transfers/{transfer.pk}/settle/", {"paid": False, "reason": ""})
    assert r.status_code == 400 and r.json()["code"] == "reason_required"
    r = op.post(
        f"/api/v1/operator/stripe-transfers/{transfer.pk}/settle/",
        {"paid": False, "reason": "Not in the Stripe dashboard"},
    )
    assert r.status_code == 200 and r.json()["status"] == "failed"
    assert account_for(organisation=org, purpose=Purpose.PROVIDER_PAYABLE).balance == D("500.00")
    again = op.post(
        f"/api/v1/operator/stripe-transfers/{transfer.pk}/settle/",
        {"paid": True, "reason": "oops", "stripe_transfer_id": "tr_9"},
    )
    assert again.status_code == 409 and again.json()["code"] == "already_settled"
