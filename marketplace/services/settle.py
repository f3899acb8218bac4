"""What the engine decided, made true in the database, a batch at a time (inside the matching
transaction): order states and fills, trades, contracts bound to the seller's pools, ledger
postings through settlement's services, capacity moved from offers to contracts through
catalog's, and what an ended order held given back.

Events are applied to records in memory in seq order; ``flush`` then writes the batch with a few
set-based statements per table instead of a round trip per row, its rows as plain tuples (COPY)
rather than model instances. The orders' records outlive a batch (``OrderRecords``): an applier
whose orders are all in memory reads nothing from the database until its ``flush``, so matching
applies the next batch while this one's last writes run."""

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from catalog.models import CommitmentKind
from catalog.services import capacity_lock_many, capacity_move_many, capacity_release_many
from config.bulk import RowsUpdate, rows_update
from config.copies import copies_unawaited
from config.rows import ids_reserve, joined_send, rows_insert, statements_joined
from marketplace.engine import Result
from marketplace.models import (
    FINAL_STATUSES,
    Contract,
    ContractLeg,
    Instrument,
    Order,
    OrderAllocation,
    OrderCancel,
    OrderStatus,
    OrderType,
    Side,
    Trade,
)
from marketplace.services.pricing import band_high_price
from marketplace.services.records import AllocationRecord, OrderRecord, OrderRecords
from settlement.services import HoldEnd, HoldsSettlement, TradeCharge, buy_hold_amount, fees_for

FILLED, OPEN, CANCELLED, EXPIRED, REJECTED = (
    OrderStatus.FILLED.value, OrderStatus.OPEN.value, OrderStatus.CANCELLED.value, OrderStatus.EXPIRED.value,
    OrderStatus.REJECTED.value,
)  # fmt: skip
FINAL = frozenset(s.value for s in FINAL_STATUSES)
BUY, SELL = Side.BUY.value, Side.SELL.value


def _touched(events: list[dict], results: list[Result]) -> set[int]:
    """The orders applying these results changes: the new ones, the cancelled, both sides of each
    trade, the expired."""
    ids = set()
    for event, result in zip(events, results, strict=True):
        if event["event"] == "new" or (event["event"] == "cancel" and result.rejection is None):
            ids.add(int(event["order_id"]))
        for trade in result.trades:
            ids.add(int(trade.buy_order_id))
            ids.add(int(trade.sell_order_id))
        ids.update(int(i) for i in result.expired)
    return ids


class Applier:
    def __init__(self, *, instrument: Instrument, trade_number: int, records: OrderRecords):
        self.instrument = instrument
        self.trade_number = trade_number
        self.records = records
        self.orders = records.orders  # the records' own dicts, shared
        self.allocations = records.allocations
        self.allocations_changed: dict[int, AllocationRecord] = {}
        self.source_legs: dict[int, list[ContractLeg]] = {}
        self.resold: list[tuple[int, int, int]] = []  # (resold contract, contract index, units), delivered in flush
        self.dirty: set[int] = set()
        self.organisations: set[int] = set()  # whose orders the batch changed, known once written
        self.trades: list[tuple] = []  # Trade rows (TRADE_FIELDS)
        self.contracts: list[tuple] = []  # Contract rows (CONTRACT_FIELDS), one per trade
        self.deliveries: list[tuple[int, str, int, int]] = []  # (contract index, from source, pool, units)
        self.money: list[TradeCharge | HoldEnd] = []
        self.releases: list[str] = []
        self.resale: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # contract: [reserved −, resold +]
        self.cancels: dict[str, list[int]] = defaultdict(list)
        self.band_high = band_high_price(instrument)
        self.now = timezone.now()

    def organisations_changed(self) -> set[int]:
        """The organisations whose orders this batch changed (state or fills), once written."""
        return self.organisations

    # --- loading ----------------------------------------------------------------------------------

    def in_memory(self, events: list[dict], results: list[Result]) -> bool:
        """Whether every order these results touch is in the records already: then applying them
        reads nothing from the database (its ``flush`` does)."""
        return _touched(events, results) <= self.orders.keys()

    def preload(self, events: list[dict], results: list[Result]) -> None:
        """Every order the batch touches that the records lack, and the sells' allocations, in two
        queries."""
        self.records.load(_touched(events, results))

    def _order(self, order_id) -> OrderRecord:
        pk = int(order_id)
        if pk not in self.orders:
            self.records.load([pk])
        return self.orders[pk]

    # --- events -----------------------------------------------------------------------------------

    def apply_all(self, events: list[dict], results: list[Result]) -> None:
        for event, result in zip(events, results, strict=True):
            self.apply(event, result)

    def apply(self, event: dict, result: Result) -> None:
        if event["event"] == "cancel":
            outcome = result.rejection.reason if result.rejection else "cancelled"
            self.cancels[outcome].append(event["seq"])
            if result.rejection is None:
                self._end(self._order(event["order_id"]), CANCELLED, "cancelled")
        elif event["event"] == "new":
            self._new(event, result)
        self.expire(result.expired, closing=False)

    def _new(self, event: dict, result: Result) -> None:
        order = self._order(event["order_id"])
        if result.rejection is not None:  # entry checks the same rules: this should not happen
            self._end(order, REJECTED, result.rejection.reason)
            return
        if result.trades:
            self.records.load({int(i) for t in result.trades for i in (t.buy_order_id, t.sell_order_id)})
            at = datetime.fromisoformat(event["ts"])
            for trade in result.trades:
                self._trade(trade, at)
        if order.remaining == 0:
            self._set(order, FILLED)
        elif result.outcome == "rested":
            self._set(order, OPEN)
        else:
            if order.tif == "FOK":
                reason = "fok_unfilled"
            elif order.tif == "IOC" or order.type == OrderType.MARKET:
                reason = "ioc_remainder"
            else:
                reason = "self_trade_prevented"
            self._end(order, CANCELLED, reason)

    def expire(self, order_ids, *, closing: bool) -> None:
        if not order_ids:
            return
        self.records.load({int(i) for i in order_ids})
        for order_id in order_ids:
            order = self._order(order_id)
            if order.status not in FINAL:
                self._end(order, EXPIRED, "window_opened" if closing else "gtd_expired")

    def _set(self, order: OrderRecord, status: str, reason: str = "") -> None:
        order.status = status
        if reason:
            order.end_reason = reason
        self.dirty.add(order.pk)

    # --- trades -----------------------------------------------------------------------------------

    def _trade(self, t, at: datetime) -> None:
        buy, sell = self.orders[int(t.buy_order_id)], self.orders[int(t.sell_order_id)]
        instrument = self.instrument
        notional = t.price * t.qty * instrument.window_hours
        self.trade_number += 1
        buyer_fee, seller_fee = fees_for(notional=notional, buyer_maker=t.maker_order_id == str(buy.pk))
        for order in (buy, sell):
            order.filled_qty += t.qty
            order.filled_notional += notional
            if not order.remaining:
                order.status = FILLED
        self.dirty.update((buy.pk, sell.pk))
        self.trades.append((
            instrument.id, self.trade_number, t.seq, t.price, t.qty, buy.pk, sell.pk, int(t.maker_order_id),
            buy.organisation_id, sell.organisation_id, notional, buyer_fee, seller_fee, at,
        ))  # fmt: skip
        self.contracts.append([instrument.id, buy.organisation_id, sell.organisation_id, t.qty, t.price])
        self.money.append(
            TradeCharge(
                source=f"trade:{instrument.id}:{self.trade_number}",
                hold_id=buy.hold_id,
                buyer_id=buy.organisation_id,
                seller_id=sell.organisation_id,
                notional=notional,
                buyer_fee=buyer_fee,
                seller_fee=seller_fee,
                keep=self._still_needed(buy),
            )  # fmt: skip
        )
        self._deliver(sell, len(self.contracts) - 1, t.qty)

    def _still_needed(self, buy: OrderRecord) -> Decimal:
        """What a buy's unfilled remainder still needs on hold."""
        if not buy.remaining:
            return Decimal(0)
        limit = buy.price if buy.price is not None else self.band_high
        return buy_hold_amount(price=limit, qty=buy.remaining, hours=self.instrument.window_hours)

    def _deliver(self, sell: OrderRecord, contract_index: int, qty: int) -> None:
        """Bind the new contract to the pools the sell order offered: units move from the order's
        offer (or from the resold contract's legs) to the contract, in allocation order."""
        for allocation in self.allocations[sell.pk]:
            take = min(qty, allocation.open_units)
            if take <= 0:
                continue
            allocation.filled += take
            self.allocations_changed[allocation.pk] = allocation
            if allocation.pool_id is not None:
                source = f"order:{sell.pk}:pool:{allocation.pool_id}"
                self.deliveries.append((contract_index, source, allocation.pool_id, take))
            else:
                self._resell(allocation.contract_id, contract_index, take)
            qty -= take
            if not qty:
                return
        raise RuntimeError(f"sell order {sell.pk} has no capacity left for {qty} unit(s)")

    def _resell(self, source_id: int, contract_index: int, qty: int) -> None:
        """A resale's units come from the resold contract's legs: which, ``flush`` works out (it
        reads the legs, locked), so that applying reads nothing."""
        self.resale[source_id][0] -= qty
        self.resale[source_id][1] += qty
        self.resold.append((source_id, contract_index, qty))

    def _deliver_resold(self) -> None:
        """The resales' units taken from the resold contracts' legs, in pool order, as applied."""
        for source_id, contract_index, qty in self.resold:
            if source_id not in self.source_legs:
                self.source_legs[source_id] = list(
                    ContractLeg.objects.select_for_update().filter(contract_id=source_id).order_by("pk")
                )
            for leg in self.source_legs[source_id]:
                take = min(qty, leg.units)
                if take <= 0:
                    continue
                leg.units -= take
                leg.dirty = True
                self.deliveries.append((contract_index, leg.source, leg.pool_id, take))
                qty -= take
                if not qty:
                    break
            else:
                raise RuntimeError(f"contract {source_id} has fewer units than its resale")

    # --- ends -------------------------------------------------------------------------------------

    def _end(self, order: OrderRecord, status: str, reason: str) -> None:
        """The order is done: give back what its unfilled part held."""
        self._set(order, status, reason)
        if order.side == BUY:
            if order.hold_id is not None:
                self.money.append(HoldEnd(source=f"order:{order.pk}", hold_id=order.hold_id))
            return
        for allocation in self.allocations[order.pk]:
            left = allocation.open_units
            if left <= 0:
                continue
            if allocation.pool_id is not None:
                self.releases.append(f"order:{order.pk}:pool:{allocation.pool_id}")
            else:
                self.resale[allocation.contract_id][0] -= left
            allocation.released += left
            self.allocations_changed[allocation.pk] = allocation

    # --- writing ----------------------------------------------------------------------------------

    def flush(self, *, batch: str = "", then: tuple | None = None, meanwhile: Iterator[None] | None = None) -> None:
        """Write the batch: a few set-based statements per table, rows sent as tuples. ``batch``
        names it (the log's seq range) on its ledger entries; ``then``, a last ``rows_update``'s
        arguments (the match state). Reads and locks come first; each COPY then returns before
        PostgreSQL has finished it (``copies_unawaited``) while the next rows are worked out. The
        last updates (holds, accounts, orders, ``then``) write nothing the batch reads again: they
        are sent together. ``meanwhile``: steps of work that use no database and may change the
        order records (the next batch applied), taken whenever this waits for PostgreSQL, the rest
        while those last updates run."""
        now = self.now
        orders = self.orders
        order_rows = [(pk, o.status, o.filled_qty, o.filled_notional, o.end_reason, now)
                      for pk in sorted(self.dirty) for o in (orders[pk],)]  # fmt: skip
        allocation_rows = [(a.pk, a.filled, a.released) for a in self.allocations_changed.values()]
        # the rows are taken: from here the records may move on (``meanwhile``), and the orders
        # that ended leave them
        self.organisations = {orders[pk].organisation_id for pk in self.dirty}
        self.records.drop([pk for pk in self.dirty if orders[pk].status in FINAL])
        self._deliver_resold()
        trade_ids = ids_reserve(Trade, len(self.trades))
        contract_ids = ids_reserve(Contract, len(self.contracts))
        # the batch's reads and locks first (the offers, then the holds, as ever), so that the
        # writes follow one another: each COPY below returns once its rows are sent, and this
        # process works out the next rows while PostgreSQL finishes it (index entries, triggers)
        offers = capacity_lock_many(sources=list({source for _, source, _, _ in self.deliveries}))
        settlement = HoldsSettlement(self.money, batch=batch)
        with copies_unawaited(Trade, idle=meanwhile):
            rows_insert(Trade, ["id", *TRADE_FIELDS], [(pk, *t) for pk, t in zip(trade_ids, self.trades, strict=True)])
            settlement.work_out()
            # the orders' update worked out now, while PostgreSQL works on the trades (sent last)
            orders_update = RowsUpdate(Order, ["status", "filled_qty", "filled_notional", "end_reason", "updated_at"],
                                       order_rows)  # fmt: skip
            contracts = zip(contract_ids, trade_ids, self.contracts, strict=True)
            rows_insert(Contract, ["id", *CONTRACT_FIELDS], [(pk, trade, *c, 0, 0, now) for pk, trade, c in contracts])
            legs: dict[tuple[int, int], int] = defaultdict(int)
            moves = []
            for index, source, pool_id, units in self.deliveries:
                contract_id = contract_ids[index]
                legs[(contract_id, pool_id)] += units
                moves.append((source, f"contract:{contract_id}:pool:{pool_id}", units))
            rows_insert(ContractLeg, ["contract_id", "pool_id", "units"], [(c, p, u) for (c, p), u in legs.items()])
            rows_update(ContractLeg, ["units"], [(leg.pk, leg.units) for legs_ in self.source_legs.values()
                                                 for leg in legs_ if getattr(leg, "dirty", False)])  # fmt: skip
            capacity_move_many(moves=moves, kind=CommitmentKind.COMMITTED, new_targets=True, locked=offers)
            capacity_release_many(sources=self.releases)
            for contract_id, (reserved, resold) in self.resale.items():
                Contract.objects.filter(pk=contract_id).update(
                    resale_reserved=F("resale_reserved") + reserved, resold=F("resold") + resold
                )
            rows_update(OrderAllocation, ["filled", "released"], allocation_rows)
            for outcome, seqs in self.cancels.items():
                OrderCancel.objects.filter(instrument=self.instrument, seq__in=seqs).update(outcome=outcome)
            with statements_joined(Order):
                settlement.write()
                orders_update.run()
                if then is not None:
                    rows_update(*then)
                joined_send(Order, meanwhile)


TRADE_FIELDS = ["instrument_id", "number", "seq", "price", "qty", "buy_order_id", "sell_order_id", "maker_order_id",
                "buyer_id", "seller_id", "notional", "buyer_fee", "seller_fee", "executed_at"]  # fmt: skip
CONTRACT_FIELDS = ["trade_id", "instrument_id", "holder_id", "seller_id", "qty", "price", "resale_reserved", "resold",
                   "created_at"]  # fmt: skip
