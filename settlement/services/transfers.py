"""Provider payouts by Stripe Connect transfer.

The payable is reserved first (provider payable → payouts in transit, in the same transaction
that stores the transfer row and the idempotency key Stripe will be called with), so the same
money cannot be paid out twice. Stripe's answer settles it: paid (in transit → cash at Stripe)
or refused (in transit → back to the payable). A call that does not answer leaves the transfer
``unknown``; ``stripe_transfers_resolve`` sends it again under the same key.
"""

import logging
from decimal import Decimal

import stripe
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Organisation, User
from accounts.services import audit_record
from config.errors import Conflict, ExchangeError, required_reason
from settlement.models import Purpose, StripeTransfer, TransferStatus
from settlement.services.cards import RESEND_WITHIN, _client, _fen, stripe_key
from settlement.services.funds import _require_operator
from settlement.services.ledger import Line, account_for, ledger_post, positive_amount

logger = logging.getLogger(__name__)


def payout_stripe_create(
    *, actor: User, organisation: Organisation, amount: Decimal, request_key: str
) -> StripeTransfer:
    _require_operator(actor)
    amount = positive_amount(amount)
    existing = StripeTransfer.objects.filter(request_key=request_key).first()
    if existing is not None:
        if (existing.organisation_id, existing.amount) != (organisation.pk, amount):
            raise Conflict("This Idempotency-Key was used for another payout.")
        return stripe_transfer_resolve(transfer_id=existing.pk)
    # (a concurrent duplicate fails on the unique request key below and changes nothing)
    if not organisation.is_provider:
        raise ExchangeError(gettext("Payouts go to provider organisations."), code="not_a_provider")
    if not organisation.stripe_account_id:
        raise ExchangeError.on_field(
            "organisation", "no_connected_account", gettext("The provider has no Stripe account set.")
        )
    try:
        transfer = _reserve(actor=actor, organisation=organisation, amount=amount, request_key=request_key)
    except IntegrityError:  # the same request, concurrently: the first one stands
        return StripeTransfer.objects.get(request_key=request_key)
    return _send(transfer)


def _reserve(*, actor: User, organisation: Organisation, amount: Decimal, request_key: str) -> StripeTransfer:
    with transaction.atomic(durable=True):
        transfer = StripeTransfer.objects.create(
            organisation=organisation,
            amount=amount,
            destination=organisation.stripe_account_id,
            request_key=request_key,
            stripe_idempotency_key=stripe_key("payout", request_key),
            created_by=actor,
        )
        ledger_post(
            idempotency_key=f"payout-stripe:{transfer.pk}:reserve",
            kind="payout.stripe.reserve",
            actor=actor,
            source=f"transfer:{transfer.pk}",
            memo=f"Payout to {transfer.destination}",
            lines=[
                Line(account_for(organisation=organisation, purpose=Purpose.PROVIDER_PAYABLE), amount),
                Line(account_for(purpose=Purpose.PAYOUTS_IN_TRANSIT), -amount),
            ],
        )
        audit_record(
            actor=actor,
            action="funds.payout_stripe",
            organisation=organisation,
            target=transfer.destination,
            detail={"amount": str(amount), "transfer": transfer.pk},
        )
    return transfer


def stripe_transfer_settle(
    *, actor: User, transfer_id: int, paid: bool, reason: str, stripe_transfer_id: str = ""
) -> StripeTransfer:
    """The operator settles a transfer whose outcome is still unknown after Stripe's key window,
    from what the Stripe dashboard shows: paid (with Stripe's transfer id) or not (the money goes
    back to the payable). Audited; a settled transfer stays as it is."""
    _require_operator(actor)
    reason = required_reason(reason)
    if paid and not (stripe_transfer_id or "").startswith("tr_"):
        raise ExchangeError.on_field(
            "stripe_transfer_id", "required", gettext("Stripe's transfer id (tr_…) is required.")
        )
    transfer = StripeTransfer.objects.filter(pk=transfer_id).first()
    if transfer is None:
        raise ExchangeError(gettext("No such transfer."), code="not_found", status=404)
    if transfer.status not in (TransferStatus.CREATED, TransferStatus.UNKNOWN):
        raise Conflict(
            gettext("The transfer is already %(status)s.") % {"status": transfer.status}, code="already_settled"
        )
    settled = _settle(
        transfer,
        paid=paid,
        transfer_id=stripe_transfer_id if paid else None,
        error="" if paid else f"Settled by the operator: {reason}",
    )
    audit_record(
        actor=actor,
        action="funds.payout_stripe_settle",
        organisation=transfer.organisation,
        target=f"transfer:{transfer.pk}",
        reason=reason,
        detail={"paid": paid},
    )
    return settled


def _send(transfer: StripeTransfer) -> StripeTransfer:
    params = {
        "amount": _fen(transfer.amount),
        "currency": transfer.currency.lower(),
        "destination": transfer.destination,
        "metadata": {"suanli_transfer": str(transfer.pk)},
    }
    try:
        result = _client().v1.transfers.create(
            params=params, options={"idempotency_key": transfer.stripe_idempotency_key}
        )
    except (stripe.InvalidRequestError, stripe.PermissionError, stripe.AuthenticationError) as exc:
        return _settle(transfer, paid=False, error=str(exc.user_message or exc)[:300])
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
        StripeTransfer.objects.filter(pk=transfer.pk, status=TransferStatus.CREATED).update(
            status=TransferStatus.UNKNOWN, error=f"Stripe did not answer: {type(exc).__name__}"
        )
        transfer.refresh_from_db()
        return transfer
    return _settle(transfer, paid=True, transfer_id=result.id)


def _settle(transfer: StripeTransfer, *, paid: bool, transfer_id: str | None = None, error: str = "") -> StripeTransfer:
    with transaction.atomic():
        transfer = StripeTransfer.objects.select_for_update().get(pk=transfer.pk)
        if transfer.status in (TransferStatus.PAID, TransferStatus.FAILED):
            return transfer  # settled already
        in_transit = account_for(purpose=Purpose.PAYOUTS_IN_TRANSIT)
        if paid:
            to = account_for(purpose=Purpose.STRIPE_CLEARING)
            transfer.status, transfer.transfer_id, transfer.error = TransferStatus.PAID, transfer_id, ""
        else:
            to = account_for(organisation=transfer.organisation, purpose=Purpose.PROVIDER_PAYABLE)
            transfer.status, transfer.error = TransferStatus.FAILED, error
        ledger_post(
            idempotency_key=f"payout-stripe:{transfer.pk}:{'paid' if paid else 'returned'}",
            kind="payout.stripe.paid" if paid else "payout.stripe.returned",
            source=f"transfer:{transfer.pk}",
            memo=transfer_id or error,
            lines=[Line(in_transit, transfer.amount), Line(to, -transfer.amount)],
        )
        transfer.save(update_fields=["status", "transfer_id", "error", "updated_at"])
    return transfer


def stripe_transfer_resolve(*, transfer_id: int) -> StripeTransfer:
    """Send an unsettled transfer again under its key, while Stripe still keeps the key; after
    that it stays unknown for the operator to check at Stripe (a resend could pay twice)."""
    transfer = StripeTransfer.objects.get(pk=transfer_id)
    unsettled = transfer.status in (TransferStatus.CREATED, TransferStatus.UNKNOWN)
    if unsettled and transfer.created_at >= timezone.now() - RESEND_WITHIN:
        return _send(transfer)
    return transfer


def stripe_transfers_resolve() -> int:
    """Periodic: send again every transfer whose outcome is unknown (same idempotency key)."""
    ids = list(
        StripeTransfer.objects.filter(status__in=[TransferStatus.CREATED, TransferStatus.UNKNOWN]).values_list(
            "pk", flat=True
        )
    )
    for pk in ids:
        try:
            stripe_transfer_resolve(transfer_id=pk)
        except stripe.StripeError:
            logger.exception("transfer %s: resolving failed; tried again next run", pk)
    return len(ids)
