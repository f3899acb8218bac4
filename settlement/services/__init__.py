"""Operations that move money. Every movement posts one balanced journal transaction through
``settlement.services.ledger.ledger_post``; pages, API, admin, commands and tasks call these."""

from settlement.services.cards import card_payment_resolve, card_payments_resolve, card_topup_create, webhook_receive
from settlement.services.funds import (
    adjustment_post,
    available_funds,
    bank_reference_for,
    bank_transfer_record,
    payout_record,
)
from settlement.services.holds import (
    funds_lock,
    hold_capture,
    hold_place,
    hold_release,
    holds_expire,
    holds_place_many,
)
from settlement.services.invoices import invoice_pay
from settlement.services.ledger import account_for, ledger_check, ledger_post, transaction_reverse
from settlement.services.trades import (
    HoldEnd,
    HoldsSettlement,
    TradeCharge,
    buy_hold_amount,
    fees_for,
    trade_fee,
)
from settlement.services.transfers import (
    payout_stripe_create,
    stripe_transfer_resolve,
    stripe_transfer_settle,
    stripe_transfers_resolve,
)
from settlement.services.usage import ACCEPTED as USAGE_ACCEPTED
from settlement.services.usage import DUPLICATE as USAGE_DUPLICATE
from settlement.services.usage import REJECTED as USAGE_REJECTED
from settlement.services.usage import UsageIn, UsageResult, usage_ingest, usage_parse

__all__ = [
    "USAGE_ACCEPTED",
    "USAGE_DUPLICATE",
    "USAGE_REJECTED",
    "HoldEnd",
    "TradeCharge",
    "UsageIn",
    "UsageResult",
    "account_for",
    "adjustment_post",
    "available_funds",
    "bank_reference_for",
    "bank_transfer_record",
    "buy_hold_amount",
    "card_payment_resolve",
    "card_payments_resolve",
    "card_topup_create",
    "fees_for",
    "funds_lock",
    "hold_capture",
    "hold_place",
    "hold_release",
    "invoice_pay",
    "holds_expire",
    "holds_place_many",
    "HoldsSettlement",
    "ledger_check",
    "ledger_post",
    "payout_record",
    "payout_stripe_create",
    "stripe_transfer_resolve",
    "stripe_transfer_settle",
    "stripe_transfers_resolve",
    "trade_fee",
    "transaction_reverse",
    "usage_ingest",
    "usage_parse",
    "webhook_receive",
]
