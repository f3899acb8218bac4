"""Card top-ups and webhooks with the real stripe client against localstripe (started here)."""

import hashlib
import hmac
import json
import random
import shutil
import socket
import subprocess
import time
import warnings
from decimal import Decimal
from pathlib import Path

import pytest
import stripe

from settlement.models import CardPayment, CardPaymentStatus, JournalTransaction, StripeEvent
from settlement.selectors import ledger_check_run
from settlement.services import available_funds, card_payments_resolve, card_topup_create

pytestmark = pytest.mark.django_db
D = Decimal
SECRET = "whsec_test_secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe():
    exe = shutil.which("localstripe") or str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "localstripe")
    if not Path(exe).exists():
        pytest.skip("localstripe is not installed (pip install localstripe)")
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 (our own venv's localstripe, fixed arguments)
        [exe, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("localstripe did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def stripe_settings(settings, localstripe):
    settings.STRIPE_API_BASE = localstripe
    settings.STRIPE_SECRET_KEY = "sk_test_suanli"
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="stripe")


def stripe_client(base):
    return stripe.StripeClient("sk_test_suanli", base_addresses={"api": base})


def signed(event: dict, *, secret=SECRET, at=None) -> tuple[bytes, str]:
    body = json.dumps(event).encode()
    ts = int(at if at is not None else time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={ts},v1={mac}"


def deliver(client, event, **kw):
    body, header = signed(event, **kw)
    return client.post("/webhooks/stripe/", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def intent_event(event_id, intent_id, type_="payment_intent.succeeded"):
    return {
        "id": event_id,
        "object": "event",
        "type": type_,
        "api_version": "2020-08-27",
        "created": int(time.time()),
        "data": {"object": {"id": intent_id, "object": "payment_intent"}},
    }


def test_card_top_up_credits_once(api, buyer, client):
    user, org = buyer
    r = api(user).post(
        "/api/v1/topups/card/", {"amount": "321.50", "payment_method": "pm_card_visa"}, HTTP_IDEMPOTENCY_KEY="topup-1"
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "succeeded" and body["intent_id"].startswith("pi_")
    again = api(user).post(
        "/api/v1/topups/card/", {"amount": "321.50", "payment_method": "pm_card_visa"}, HTTP_IDEMPOTENCY_KEY="topup-1"
    )
    assert again.json()["id"] == body["id"]
    # Stripe's webhook for the same intent arrives too: recorded, nothing posted twice
    assert deliver(client, intent_event("evt_1", body["intent_id"])).json()["outcome"] == "applied"
    assert available_funds(organisation=org).available == D("321.50")
    assert JournalTransaction.objects.filter(kind="topup.card").count() == 1
    assert ledger_check_run()["ok"]


def test_a_declined_card_credits_nothing(buyer, localstripe):
    user, org = buyer
    pm = stripe_client(localstripe).v1.payment_methods.create(
        params={"type": "card", "card": {"number": "4000000000000341", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    payment = card_topup_create(actor=user, organisation=org, amount=D("10.00"), payment_method=pm.id, request_key="d")
    assert payment.status == CardPaymentStatus.FAILED and "declined" in payment.error
    assert available_funds(organisation=org).available == 0


def test_a_call_that_does_not_answer_is_resolved_later(buyer, settings, localstripe):
    user, org = buyer
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    payment = card_topup_create(
        actor=user, organisation=org, amount=D("42.00"), payment_method="pm_card_visa", request_key="t"
    )
    assert payment.status == CardPaymentStatus.UNKNOWN and available_funds(organisation=org).available == 0
    settings.STRIPE_API_BASE = localstripe
    assert card_payments_resolve() == 1
    payment.refresh_from_db()
    assert payment.status == CardPaymentStatus.SUCCEEDED
    assert available_funds(organisation=org).available == D("42.00")


def test_bad_signatures_are_refused_and_change_nothing(client, buyer):
    user, org = buyer
    payment = card_topup_create(actor=user, organisation=org, amount=D("5.00"), request_key="s")
    event = intent_event("evt_sig", payment.intent_id)
    body, header = signed(event)
    tampered = body.replace(b"evt_sig", b"evt_sgi")
    r = client.post("/webhooks/stripe/", tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert r.status_code == 400 and r.json()["code"] == "invalid_signature"
    assert deliver(client, event, at=time.time() - 301).status_code == 400  # stale: outside the 300 s tolerance
    assert deliver(client, event, secret="whsec_other").status_code == 400
    assert client.post("/webhooks/stripe/", body, content_type="application/json").status_code == 400
    assert StripeEvent.objects.count() == 0
    assert deliver(client, event, at=time.time() - 290).status_code == 200


def test_unknown_event_types_are_acknowledged_and_ignored(client):
    r = deliver(
        client, {"id": "evt_x", "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    )
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    assert StripeEvent.objects.get().type == "customer.created"


def test_a_hundred_events_delivered_three_times_shuffled_apply_once(client, buyer, localstripe):
    """Browser-confirmed payments: we learn of success only from the webhooks."""
    user, org = buyer
    stripe_api = stripe_client(localstripe)
    payments = [
        card_topup_create(actor=user, organisation=org, amount=D(f"{i}.{i % 100:02d}"), request_key=f"w{i}")
        for i in range(1, 101)
    ]
    assert {p.status for p in payments} == {CardPaymentStatus.PENDING}
    for p in payments:  # what Stripe.js does in the buyer's browser
        stripe_api.v1.payment_intents.update(p.intent_id, params={"payment_method": "pm_card_visa"})
        stripe_api.v1.payment_intents.confirm(p.intent_id)
    deliveries = [intent_event(f"evt_{i}", p.intent_id) for i, p in enumerate(payments)] * 3
    # a failed-payment event for an intent that in truth succeeded, out of order: the re-fetched
    # intent is what counts
    deliveries += [intent_event("evt_late_fail", payments[0].intent_id, "payment_intent.payment_failed")]
    random.Random(7).shuffle(deliveries)
    for event in deliveries:
        assert deliver(client, event).status_code == 200
    assert StripeEvent.objects.count() == 101
    assert JournalTransaction.objects.filter(kind="topup.card").count() == 100
    assert set(CardPayment.objects.values_list("status", flat=True)) == {CardPaymentStatus.SUCCEEDED}
    assert available_funds(organisation=org).available == sum(p.amount for p in payments)
    assert ledger_check_run()["ok"]


def test_card_top_up_on_the_funds_page(client, buyer):
    user, org = buyer
    client.force_login(user)
    page = client.get("/funds/").content.decode()
    key = page.split('name="idempotency_key" value="')[1].split('"')[0]
    form = {"idempotency_key": key, "amount": "99.90", "payment_method": "pm_card_visa"}
    assert "Card payment received: ¥99.90." in client.post("/funds/", form, follow=True).content.decode()
    assert client.post("/funds/", form).status_code == 302  # a double submit pays once
    assert available_funds(organisation=org).available == D("99.90")
    assert CardPayment.objects.count() == 1


def test_a_refused_call_fails_the_payment_without_a_500(api, buyer):
    user, org = buyer
    r = api(user).post(
        "/api/v1/topups/card/",
        {"amount": "10.00", "payment_method": "pm_no_such_method"},
        HTTP_IDEMPOTENCY_KEY="refused",
    )
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "failed" and r.json()["error"].startswith("Stripe refused")
    assert available_funds(organisation=org).available == 0


def test_the_resolver_fetches_old_payments_that_have_an_intent(buyer, localstripe):
    from datetime import timedelta

    from django.utils import timezone

    user, org = buyer
    payment = card_topup_create(actor=user, organisation=org, amount=D("12.00"), request_key="old")
    stripe_api = stripe_client(localstripe)
    stripe_api.v1.payment_intents.update(payment.intent_id, params={"payment_method": "pm_card_visa"})
    stripe_api.v1.payment_intents.confirm(payment.intent_id)  # the webhook never came
    CardPayment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(days=3))
    assert card_payments_resolve() == 1
    payment.refresh_from_db()
    assert payment.status == CardPaymentStatus.SUCCEEDED
    assert available_funds(organisation=org).available == D("12.00")
