"""Settling wholesale trades (trading standard §4): the buyer's hold pays the notional and the
buyer's fee; the seller is owed the notional less its fee; the platform earns both fees; what an
order no longer needs goes back to the buyer's funds.

The matching worker settles a whole batch of trades at once (``HoldsSettlement``): it is exactly-once
by its own sequence number, so this is one pass over the batch's holds and one ledger write."""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from catalog.pricing import CENT, round_half_up
from config.bulk import RowsUpdate
from config.rows import placeholders, rows_by, select_models
from settlement.models import CNY, Account, Hold, HoldStatus, Purpose
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
    """A trade to pay from a buy order's hold; afterwards the hold keeps only ``keep``. ``source``
    names the trade (``trade:<instrument>:<number>``): the first of a batch keys its entry."""

    source: str
    hold_id: int
    buyer_id: int
    seller_id: int
    notional: Decimal  # exact
    buyer_fee: Decimal
    seller_fee: Decimal
    keep: Decimal


@dataclass(frozen=True)
class HoldEnd:
    """An order is done: what its hold has left goes back to the buyer. ``source`` names the
    order (``order:<id>``): the first of a batch keys its entry."""

    source: str
    hold_id: int


class _Accounts:
    """Accounts by (purpose, organisation), read together — the organisations' and the
    platform's (fee revenue) in one query — and created on first use."""

    def __init__(self, organisation_ids):
        ids = list(organisation_ids)
        where = f"currency = %s AND (organisation_id IN ({placeholders(ids)}) OR organisation_id IS NULL)"
        self.cache: dict[tuple, Account] = {
            (a.purpose, a.organisation_id): a for a in select_models(Account, where, [CNY, *ids])
        }

    def __call__(self, purpose: str, organisation_id: int | None = None) -> Account:
        key = (purpose, organisation_id)
        if key not in self.cache:
            self.cache[key], _ = Account.objects.get_or_create(organisation_id=organisation_id, purpose=purpose)
        return self.cache[key]


class HoldsSettlement:
    """Apply a batch's trades and order ends to their holds in the order given, in one ledger
    write, in three steps, so that the caller (the matching worker) has other work done between
    them: created, it reads the holds (locked) and the accounts; ``work_out`` computes the holds'
    new figures, their update and the netted entries, with no database; ``write`` posts them and
    updates the holds. Inside a transaction.

    The trades are one ``trade.settle`` journal transaction and the order ends one
    ``hold.release``, each netted: one posting per account, the sum of what every trade (or
    order end) of the batch moved on it, named by the batch (the transaction's source, e.g.
    ``match:3:1-5000``). A trade's own figures stay on its row (notional, both fees) and a hold's
    on the hold (captured, released), so each batch's postings reconcile against its trades; the
    ledger grows by a few postings per batch, not by three or four per trade. Each transaction's
    key is ``settle:`` and the source of its first step, which no other batch can have.

    A trade takes its notional (rounded to the fen) and the buyer's fee from the hold. Fees are
    rounded per trade, so a hold sized for the whole order can fall a fen or two short of its last
    fills: that difference comes from the buyer's prepaid funds in the same entry (documented in
    docs/standards.md)."""

    def __init__(self, steps: list[TradeCharge | HoldEnd], *, batch: str = "") -> None:
        self.steps, self.batch = steps, batch
        self.entries: list[Entry] = []
        if not steps:  # nothing to read: work_out and write then have nothing to do
            self.holds, self.accounts, self.payables, self.fees, self.by_id = {}, {}, {}, None, {}
            return
        hold_ids = sorted({s.hold_id for s in steps})
        fields = ("pk", "organisation_id", "amount", "captured", "released", "status", "closed_at")
        # mutable: [pk, org, amount, captured, released, …]
        self.holds = {row[0]: list(row) for row in rows_by(Hold, fields, "id", hold_ids, lock=True)}
        sellers = {s.seller_id for s in steps if isinstance(s, TradeCharge)}
        account = _Accounts({row[1] for row in self.holds.values()} | sellers)
        self.fees = account(Purpose.FEE_REVENUE).id
        self.accounts = {
            org: (account(Purpose.BUYER_HOLDS, org).id, account(Purpose.BUYER_CASH, org).id)
            for org in {row[1] for row in self.holds.values()}
        }
        self.payables = {org: account(Purpose.PROVIDER_PAYABLE, org).id for org in sellers}
        self.by_id = {a.id: a for a in account.cache.values()}

    def work_out(self) -> None:
        holds, accounts, payables, fees = self.holds, self.accounts, self.payables, self.fees
        # account id → amount, netted over the batch
        traded: dict[int, Decimal] = defaultdict(Decimal)
        ended: dict[int, Decimal] = defaultdict(Decimal)
        now, zero = timezone.now(), Decimal(0)
        first_trade = first_end = None
        for step in self.steps:
            hold = holds[step.hold_id]
            held, cash = accounts[hold[1]]
            remaining = hold[2] - hold[3] - hold[4]
            if step.__class__ is HoldEnd:
                if remaining > 0:
                    hold[4] += remaining
                    ended[held] += remaining
                    ended[cash] -= remaining
                    first_end = first_end or step.source
                    remaining = zero
            else:
                amount = round_half_up(step.notional, CENT)
                charge = amount + step.buyer_fee
                from_hold = charge if charge < remaining else remaining
                remaining -= from_hold
                release = remaining - step.keep if remaining > step.keep else zero
                remaining -= release
                hold[3] += from_hold
                hold[4] += release
                first_trade = first_trade or step.source
                traded[held] += from_hold + release
                traded[cash] += charge - from_hold - release
                traded[payables[step.seller_id]] += step.seller_fee - amount
                traded[fees] -= step.buyer_fee + step.seller_fee
            if remaining == 0 and hold[5] == HoldStatus.OPEN:
                hold[5], hold[6] = HoldStatus.CLOSED.value, now
        for key, kind, totals, memo in ((first_trade, "trade.settle", traded, "Trades: notional and fees"),
                                        (first_end, "hold.release", ended, "Orders ended")):  # fmt: skip
            lines = [Line(self.by_id[pk], value) for pk, value in sorted(totals.items()) if value]
            if lines:
                self.entries.append(Entry(f"settle:{key}", kind, lines, memo, self.batch))
        self.holds_update = RowsUpdate(Hold, ["captured", "released", "status", "closed_at"],
                                       [(h[0], *h[3:]) for h in holds.values()])  # fmt: skip

    def write(self) -> None:
        ledger_post_many(self.entries)
        self.holds_update.run()


def fees_for(*, notional: Decimal, buyer_maker: bool) -> tuple[Decimal, Decimal]:
    """(buyer fee, seller fee) of a trade: the maker pays 0.10 %, the taker 0.30 %."""
    return trade_fee(notional, maker=buyer_maker), trade_fee(notional, maker=not buyer_maker)
