"""Top-ups by card through Stripe PaymentIntents, and Stripe's webhooks.

- Our row and the idempotency key we send to Stripe are committed before the call; a call that
  does not answer leaves the payment ``unknown``, and ``card_payments_resolve`` (a periodic task)
  asks again with the same key, which Stripe answers with the original PaymentIntent.
- Webhooks are verified on the raw body (300 s tolerance), stored under their event id in the
  same transaction as their effect, and never trusted: the PaymentIntent is fetched again and its
  current state is what counts, so duplicates and out-of-order delivery change nothing.
- A succeeded PaymentIntent credits the buyer once, under the key ``stripe-pi:<id>``, whichever
  path (the API call, a webhook, the resolver) gets there first.
Integer minor units (fen) exist only inside this module.
"""

import hashlib
import logging
from datetime import timedelta
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organisation, User
from config.errors import Conflict, ExchangeError
from settlement.models import CardPayment, CardPaymentStatus, Purpose, StripeEvent
from settlement.services.ledger import Line, account_for, ledger_post, positive_amount

logger = logging.getLogger(__name__)
HANDLED_EVENTS = {
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.processing",
    "payment_intent.canceled",
}


def _client() -> stripe.StripeClient:
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    http = stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS)
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses=base, http_client=http, max_network_retries=0)


def stripe_key(kind: str, request_key: str) -> str:
    """The idempotency key sent to Stripe: derived from ours, fixed length, never truncated."""
    return f"suanli-{kind}-{hashlib.sha256(request_key.encode()).hexdigest()[:40]}"


# Stripe keeps idempotency keys for at least 24 hours; past that a resend could charge twice,
# so the resolver stops and leaves the payment for the operator.
RESEND_WITHIN = timedelta(hours=23)


def _fen(amount: Decimal) -> int:
    return int(amount * 100)


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def card_topup_create(
    *, actor: User, organisation: Organisation, amount: Decimal, request_key: str, payment_method: str = ""
) -> CardPayment:
    """Top up prepaid funds by card. Idempotent by the caller's request key."""
    amount = positive_amount(amount)
    try:
        with transaction.atomic(durable=True):
            payment = CardPayment.objects.create(
                organisation=organisation,
                amount=amount,
                request_key=request_key,
                stripe_idempotency_key=stripe_key("topup", request_key),
                payment_method=payment_method or "",
                created_by=actor,
            )
    except IntegrityError:  # a retry (perhaps concurrent) of the same request
        existing = CardPayment.objects.get(request_key=request_key)
        if (existing.organisation_id, existing.amount) != (organisation.pk, amount):
            raise Conflict("This Idempotency-Key was used for another payment.") from None
        return (
            existing if existing.status == CardPaymentStatus.SUCCEEDED else card_payment_resolve(payment_id=existing.pk)
        )
    return _send(payment)


def _send(payment: CardPayment) -> CardPayment:
    """Create (and, with a payment method, confirm) the PaymentIntent. The same parameters under
    the same idempotency key every time, so a repeat gets Stripe's original answer."""
    payment_method = payment.payment_method
    params = {
        "amount": _fen(payment.amount),
        "currency": payment.currency.lower(),
        "confirm": bool(payment_method),
        "metadata": {"suanli_payment": str(payment.pk), "organisation": payment.organisation.slug},
    }
    if payment_method:
        params["payment_method"] = payment_method
    try:
        intent = _client().v1.payment_intents.create(
            params=params, options={"idempotency_key": payment.stripe_idempotency_key}
        )
    except stripe.CardError as exc:
        intent_id = getattr(getattr(exc, "error", None), "payment_intent", None)
        _mark(
            payment,
            CardPaymentStatus.FAILED,
            intent_id=getattr(intent_id, "id", None),
            error=str(exc.user_message or exc)[:300],
        )
        return payment
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
        _mark(payment, CardPaymentStatus.UNKNOWN, error=f"Stripe did not answer: {type(exc).__name__}"[:300])
        return payment
    except stripe.StripeError as exc:  # refused outright (bad key, bad request): nothing was charged
        _mark(payment, CardPaymentStatus.FAILED, error=f"Stripe refused: {exc.user_message or exc}"[:300])
        return payment
    return _apply_intent(intent.id)


def _mark(payment: CardPayment, status: str, *, intent_id: str | None = None, error: str = "") -> None:
    fields = {"status": status, "error": error}
    if intent_id:
        fields["intent_id"] = intent_id
    CardPayment.objects.filter(pk=payment.pk).exclude(status=CardPaymentStatus.SUCCEEDED).update(**fields)
    payment.refresh_from_db()


def _apply_intent(intent_id: str) -> CardPayment | None:
    """Fetch the PaymentIntent and bring our payment (and the ledger) to its state."""
    intent = _client().v1.payment_intents.retrieve(intent_id)
    with transaction.atomic():
        return _apply(intent)


def _apply(intent) -> CardPayment | None:
    """Inside the caller's transaction: our payment (locked) takes the fetched intent's state; a
    succeeded intent credits the buyer once, under the key stripe-pi:<id>."""
    payment_id = (intent.to_dict().get("metadata") or {}).get("suanli_payment")
    payments = CardPayment.objects.select_for_update().select_related("organisation")
    payment = payments.filter(pk=payment_id).first() if payment_id else None
    payment = payment or payments.filter(intent_id=intent.id).first()
    if payment is None:
        return None  # not one of ours
    payment.intent_id = intent.id
    if intent.status == "succeeded":
        # What Stripe took is what the buyer gets: a difference from what we asked for is flagged
        # for the operator, never lost.
        received, currency = _yuan(intent.amount), intent.currency.upper()
        clearing = account_for(purpose=Purpose.STRIPE_CLEARING, currency=currency)
        cash = account_for(organisation=payment.organisation, purpose=Purpose.BUYER_CASH, currency=currency)
        ledger_post(
            idempotency_key=f"stripe-pi:{intent.id}",
            kind="topup.card",
            source=f"stripe:{intent.id}",
            memo=f"Card top-up {intent.id}",
            lines=[Line(clearing, received), Line(cash, -received)],
        )
        payment.status = CardPaymentStatus.SUCCEEDED
        differs = (received, currency) != (payment.amount, payment.currency)
        payment.error = (
            f"Stripe took {received} {currency}, not {payment.amount}: credited what it took." if differs else ""
        )
    elif payment.status != CardPaymentStatus.SUCCEEDED:
        error = intent.to_dict().get("last_payment_error")
        failed = intent.status == "canceled" or (intent.status == "requires_payment_method" and error)
        payment.status = CardPaymentStatus.FAILED if failed else CardPaymentStatus.PENDING
    payment.save(update_fields=["intent_id", "status", "error", "updated_at"])
    return payment


def card_payment_resolve(*, payment_id: int) -> CardPayment:
    """Bring a payment whose state we do not know up to date with Stripe."""
    payment = CardPayment.objects.get(pk=payment_id)
    if payment.status == CardPaymentStatus.SUCCEEDED:
        return payment
    if payment.intent_id:
        return _apply_intent(payment.intent_id) or payment
    # Never reached Stripe, or its answer was lost: the same idempotency key returns the original,
    # for as long as Stripe keeps keys.
    if payment.created_at < timezone.now() - RESEND_WITHIN:
        return payment
    return _send(payment)


def card_payments_resolve() -> int:
    """Periodic: resolve every payment left created, pending or unknown within Stripe's
    idempotency window; one that fails to resolve does not stop the others."""
    recent = timezone.now() - RESEND_WITHIN
    # With an intent id, fetching it again is always safe; without one, a resend is safe only
    # while Stripe still keeps the idempotency key.
    ids = list(
        CardPayment.objects.unresolved()
        .filter(Q(intent_id__isnull=False) | Q(created_at__gte=recent))
        .values_list("pk", flat=True)
    )
    for payment_id in ids:
        try:
            card_payment_resolve(payment_id=payment_id)
        except stripe.StripeError:
            logger.exception("card payment %s: resolving failed; tried again next run", payment_id)
    return len(ids)


def webhook_receive(*, payload: bytes, signature: str) -> StripeEvent:
    """Verify, record once and apply a Stripe webhook event.

    The PaymentIntent is fetched before the transaction (no network call holds a lock); the event
    row and its effect then commit together, and a duplicate delivery finds the row and stops.
    """
    try:
        event = stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET, tolerance=300)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise ExchangeError("The webhook's signature does not verify.", code="invalid_signature") from exc
    existing = StripeEvent.objects.filter(event_id=event.id).first()
    if existing is not None:
        return existing
    intent = _client().v1.payment_intents.retrieve(event.data.object.id) if event.type in HANDLED_EVENTS else None
    try:
        with transaction.atomic():
            outcome = "ignored"
            if intent is not None:
                outcome = "applied" if _apply(intent) is not None else "not_ours"
            return StripeEvent.objects.create(event_id=event.id, type=event.type, outcome=outcome)
    except IntegrityError:  # the same event, delivered twice at once: the other delivery applied it
        return StripeEvent.objects.get(event_id=event.id)
