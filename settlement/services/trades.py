"""Settling wholesale trades (trading standard §4): the buyer's hold pays the notional and the
buyer's fee; the seller is owed the notional less its fee; the platform earns both fees; what an
order no longer needs goes back to the buyer's funds.

The matching worker settles a whole batch of trades at once (``holds_settle``): it is exactly-once
by its own sequence number, so this is one pass over the batch's holds and one ledger write."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from catalog.pricing import CENT, round_half_up
from config.bulk import bulk_set
from settlement.models import Account, Hold, HoldStatus, Purpose
from settlement.services.ledger import Entry, Line, ledger_post_many

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


@dataclass(frozen=True)
class TradeCharge:
    """A trade to pay from a buy order's hold; afterwards the hold keeps only ``keep``."""

    key: str
    hold_id: int
    buyer_id: int
    seller_id: int
    notional: Decimal  # exact
    buyer_fee: Decimal
    seller_fee: Decimal
    keep: Decimal


@dataclass(frozen=True)
class HoldEnd:
    """An order is done: what its hold has left goes back to the buyer."""

    key: str
    hold_id: int


class _Accounts:
    def __init__(self):
        self.cache: dict[tuple, Account] = {}

    def __call__(self, purpose: str, organisation_id: int | None = None) -> Account:
        key = (purpose, organisation_id)
        if key not in self.cache:
            self.cache[key], _ = Account.objects.get_or_create(organisation_id=organisation_id, purpose=purpose)
        return self.cache[key]


def _lines(pairs) -> list[Line]:
    """Lines from (account, signed amount) pairs, amounts of one account summed, zeros dropped."""
    summed: dict[int, tuple[Account, Decimal]] = {}
    for account, amount in pairs:
        prior = summed.get(account.pk, (account, Decimal(0)))[1]
        summed[account.pk] = (account, prior + amount)
    return [Line(account, amount) for account, amount in summed.values() if amount]


@transaction.atomic(savepoint=False)
def holds_settle(steps: list[TradeCharge | HoldEnd]) -> None:
    """Apply trades and order ends to their holds in the order given, in one ledger write.

    A trade takes its notional (rounded to the fen) and the buyer's fee from the hold. Fees are
    rounded per trade, so a hold sized for the whole order can fall a fen or two short of its last
    fills: that difference comes from the buyer's prepaid funds in the same entry (documented in
    docs/standards.md)."""
    if not steps:
        return
    hold_ids = sorted({s.hold_id for s in steps})
    holds = {
        h.pk: h
        for h in Hold.objects.select_for_update(of=("self",), no_key=True).filter(pk__in=hold_ids).order_by("pk")
    }
    account = _Accounts()
    fees = account(Purpose.FEE_REVENUE)
    entries, now = [], timezone.now()
    for step in steps:
        hold = holds[step.hold_id]
        held = account(Purpose.BUYER_HOLDS, hold.organisation_id)
        cash = account(Purpose.BUYER_CASH, hold.organisation_id)
        if isinstance(step, HoldEnd):
            left = hold.remaining
            if left > 0:
                hold.released += left
                entries.append(Entry(step.key, "hold.release", [Line(held, left), Line(cash, -left)], "Order ended",
                                     f"hold:{hold.pk}"))  # fmt: skip
        else:
            amount = round_half_up(step.notional, CENT)
            owed_seller, owed_fees = amount - step.seller_fee, step.buyer_fee + step.seller_fee
            charge = amount + step.buyer_fee
            from_hold = min(charge, hold.remaining)
            shortfall = charge - from_hold
            hold.captured += from_hold
            release = max(hold.remaining - step.keep, Decimal(0))
            hold.released += release
            payable = account(Purpose.PROVIDER_PAYABLE, step.seller_id)
            pairs = [(held, from_hold + release), (cash, shortfall - release), (payable, -owed_seller),
                     (fees, -owed_fees)]  # fmt: skip
            entries.append(
                Entry(step.key, "trade.settle", _lines(pairs), "Trade: notional and fees", f"hold:{hold.pk}")
            )
        if hold.remaining == 0 and hold.status == HoldStatus.OPEN:
            hold.status, hold.closed_at = HoldStatus.CLOSED, now
    ledger_post_many(entries)
    bulk_set(holds.values(), ["captured", "released", "status", "closed_at"])


def fees_for(*, notional: Decimal, buyer_maker: bool) -> tuple[Decimal, Decimal]:
    """(buyer fee, seller fee) of a trade: the maker pays 0.10 %, the taker 0.30 %."""
    return trade_fee(notional, maker=buyer_maker), trade_fee(notional, maker=not buyer_maker)
