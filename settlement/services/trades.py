"""Settling a wholesale trade (trading standard §4): the buyer's hold pays the notional and the
buyer's fee; the seller is owed the notional less its fee; the platform earns both fees."""

from decimal import Decimal

from django.db import transaction

from accounts.models import Organisation
from catalog.pricing import CENT, round_half_up
from settlement.models import Hold, Purpose
from settlement.services.holds import hold_capture, hold_release
from settlement.services.ledger import Line, account_for, ledger_post

MAKER_FEE = Decimal("0.0010")
TAKER_FEE = Decimal("0.0030")


def trade_fee(notional: Decimal, *, maker: bool) -> Decimal:
    """A side's fee on a trade's notional, rounded half-up to the fen."""
    return round_half_up(notional * (MAKER_FEE if maker else TAKER_FEE), CENT)


def buy_hold_amount(*, price: Decimal, qty: int, hours: int) -> Decimal:
    """What a buy order sets aside: its limit notional plus the taker fee on it (§4 pre-trade check).
    The notional is rounded half-up to the fen as it is charged (CPU ticks have four places)."""
    notional = price * qty * hours
    return round_half_up(notional, CENT) + trade_fee(notional, maker=False)


@transaction.atomic
def trade_settle(
    *,
    key: str,
    hold_id: int,
    buyer: Organisation,
    seller: Organisation,
    notional: Decimal,
    buyer_maker: bool,
    keep: Decimal,
) -> tuple[Decimal, Decimal]:
    """Capture one trade from the buyer's hold and pay it out; then release the hold down to
    ``keep`` (what the order's unfilled remainder still needs). Idempotent by ``key``. Returns the
    (buyer fee, seller fee).

    Fees are rounded per trade and the notional to the fen, so a hold sized for the whole order can
    fall a fen or two short of its last fills; that difference is taken from the buyer's funds in
    the same transaction (kind ``trade.rounding``)."""
    buyer_fee = trade_fee(notional, maker=buyer_maker)
    seller_fee = trade_fee(notional, maker=not buyer_maker)
    amount = round_half_up(notional, CENT)
    payable = account_for(organisation=seller, purpose=Purpose.PROVIDER_PAYABLE)
    fees = account_for(purpose=Purpose.FEE_REVENUE)
    hold = Hold.objects.get(pk=hold_id)
    charge = amount + buyer_fee
    from_hold = min(charge, hold.remaining)
    shortfall = charge - from_hold
    owed_seller, owed_fees = amount - seller_fee, buyer_fee + seller_fee
    to_seller = min(owed_seller, from_hold)
    to_fees = from_hold - to_seller
    destinations = [(acc, a) for acc, a in ((payable, to_seller), (fees, to_fees)) if a > 0]
    if destinations:
        hold_capture(idempotency_key=f"{key}:capture", hold_id=hold_id, destinations=destinations)
    if shortfall > 0:
        cash = account_for(organisation=buyer, purpose=Purpose.BUYER_CASH)
        rest = [(acc, a) for acc, a in ((payable, owed_seller - to_seller), (fees, owed_fees - to_fees)) if a > 0]
        ledger_post(
            idempotency_key=f"{key}:rounding",
            kind="trade.rounding",
            source=key,
            memo="Fee and notional rounding beyond the order's hold",
            lines=[Line(cash, shortfall), *(Line(acc, -a) for acc, a in rest)],
        )
    hold.refresh_from_db()
    if hold.remaining > keep:
        hold_release(idempotency_key=f"{key}:release", hold_id=hold_id, amount=hold.remaining - keep)
    return buyer_fee, seller_fee
