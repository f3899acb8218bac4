"""Money in and out: bank-transfer top-ups (对公转账), operator adjustments, provider payouts,
and what a buyer has available."""

import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext

from accounts.models import Organisation, User
from accounts.selectors import user_is_operator
from accounts.services import audit_record
from config.errors import ExchangeError, NotAllowed, required_reason
from settlement.models import CNY, BankTransferReference, JournalTransaction, Purpose
from settlement.services.credit import credit_limit_of
from settlement.services.ledger import Line, account_for, ledger_post, positive_amount
from settlement.services.retry import retry_on_serialization_failure

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by hand


@dataclass(frozen=True)
class Funds:
    currency: str
    prepaid: Decimal  # prepaid funds, holds included
    holds: Decimal
    credit_limit: Decimal

    @property
    def available(self) -> Decimal:
        """Prepaid funds + credit limit − open holds (trading standard §4)."""
        return self.prepaid + self.credit_limit - self.holds


def available_funds(*, organisation: Organisation, currency: str = CNY) -> Funds:
    cash = account_for(organisation=organisation, purpose=Purpose.BUYER_CASH, currency=currency)
    holds = account_for(organisation=organisation, purpose=Purpose.BUYER_HOLDS, currency=currency)
    return Funds(currency, cash.balance + holds.balance, holds.balance, credit_limit_of(organisation))


def _require_operator(actor: User) -> None:
    if not user_is_operator(user=actor, acting=True):
        raise NotAllowed(gettext("Only operators move money by hand."), code="operator_required")


def bank_reference_for(*, organisation: Organisation) -> BankTransferReference:
    """The organisation's reference for bank transfers (created once, then always the same)."""
    existing = BankTransferReference.objects.filter(organisation=organisation).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        code = "SL-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
        return BankTransferReference.objects.create(organisation=organisation, code=code)


@retry_on_serialization_failure
def bank_transfer_record(
    *, actor: User, reference: str, amount: Decimal, bank_transaction_id: str
) -> JournalTransaction:
    """The operator records a transfer received on the bank statement: the buyer's prepaid funds
    grow by the amount. Idempotent by the bank's transaction id."""
    _require_operator(actor)
    amount = positive_amount(amount)
    bank_transaction_id = (bank_transaction_id or "").strip()
    if not bank_transaction_id:
        raise ExchangeError(
            gettext("The bank's transaction id is required."),
            code="invalid",
            fields={"bank_transaction_id": [{"code": "required", "detail": gettext("Required.")}]},
        )
    ref = (
        BankTransferReference.objects.select_related("organisation")
        .filter(code=(reference or "").strip().upper())
        .first()
    )
    if ref is None:
        raise ExchangeError(
            gettext("Unknown reference."),
            code="unknown_reference",
            fields={"reference": [{"code": "unknown_reference", "detail": gettext("No such reference.")}]},
        )
    with transaction.atomic(durable=True):
        txn = ledger_post(
            idempotency_key=f"bank-in:{bank_transaction_id}",
            kind="topup.bank",
            source=f"bank:{bank_transaction_id}",
            memo=f"Bank transfer {bank_transaction_id} ref {ref.code}",
            actor=actor,
            lines=[
                Line(account_for(purpose=Purpose.BANK_CLEARING), amount),
                Line(account_for(organisation=ref.organisation, purpose=Purpose.BUYER_CASH), -amount),
            ],
        )
        if txn.posted_now:  # a retry is not a second action
            audit_record(
                actor=actor,
                action="funds.bank_transfer",
                organisation=ref.organisation,
                target=bank_transaction_id,
                detail={"amount": str(amount), "reference": ref.code},
            )
    return txn


@retry_on_serialization_failure
def adjustment_post(
    *, actor: User, idempotency_key: str, organisation: Organisation, purpose: str, amount: Decimal, reason: str
) -> JournalTransaction:
    """An operator's manual adjustment of an organisation's account, against the platform's
    adjustments account. ``amount`` is signed in the account's own sense: positive raises what
    the account shows. A reason is mandatory; the action is audited."""
    _require_operator(actor)
    reason = required_reason(reason)
    if purpose not in {Purpose.BUYER_CASH, Purpose.PROVIDER_PAYABLE}:
        raise ExchangeError.on_field("purpose", "invalid_choice", gettext("Adjust buyer_cash or provider_payable."))
    if not isinstance(amount, Decimal):
        raise ExchangeError.on_field("amount", "invalid_amount", gettext("An amount in fen, as a decimal."))
    positive_amount(abs(amount))  # non-zero, finite, whole fen
    with transaction.atomic(durable=True):
        account = account_for(organisation=organisation, purpose=purpose)
        posting = amount * account.sign
        txn = ledger_post(
            idempotency_key=f"adjust:{idempotency_key}",
            kind="adjustment",
            memo=reason[:300],
            actor=actor,
            source=f"org:{organisation.pk}",
            lines=[Line(account, posting), Line(account_for(purpose=Purpose.ADJUSTMENTS), -posting)],
            floors={account.pk: -organisation.credit_limit} if purpose == Purpose.BUYER_CASH else None,
        )
        if txn.posted_now:  # a retry is not a second action
            audit_record(
                actor=actor,
                action="funds.adjustment",
                organisation=organisation,
                target=purpose,
                reason=reason,
                detail={"amount": str(amount), "transaction": txn.pk},
            )
    return txn


@retry_on_serialization_failure
def payout_record(
    *, actor: User, organisation: Organisation, amount: Decimal, bank_transaction_id: str
) -> JournalTransaction:
    """A provider payout by bank transfer, marked by the operator once sent. Never more than the
    provider's payable balance (refused ``insufficient_funds``). Recorded once per bank
    transaction id, like a transfer received: entering the same payout twice posts it once."""
    _require_operator(actor)
    amount = positive_amount(amount)
    bank_transaction_id = (bank_transaction_id or "").strip()
    if not bank_transaction_id:
        raise ExchangeError.on_field(
            "bank_transaction_id", "required", gettext("The bank's transaction id is required.")
        )
    if not organisation.is_provider:
        raise ExchangeError(gettext("Payouts go to provider organisations."), code="not_a_provider")
    with transaction.atomic(durable=True):
        txn = ledger_post(
            idempotency_key=f"payout-bank:{bank_transaction_id}",
            kind="payout.bank",
            actor=actor,
            source=f"bank:{bank_transaction_id}",
            memo=f"Payout, bank transfer {bank_transaction_id}",
            lines=[
                Line(account_for(organisation=organisation, purpose=Purpose.PROVIDER_PAYABLE), amount),
                Line(account_for(purpose=Purpose.BANK_CLEARING), -amount),
            ],
        )
        if txn.posted_now:  # a retry is not a second action
            audit_record(
                actor=actor,
                action="funds.payout",
                organisation=organisation,
                target=bank_transaction_id,
                detail={"amount": str(amount), "transaction": txn.pk},
            )
    return txn
