"""What the engine decided, made true in the database (inside the matching transaction): order
states and fills, trades, contracts bound to the seller's pools, ledger postings through
settlement's services, capacity moved from offers to contracts through catalog's, and what an
ended order held given back."""

from datetime import datetime
from decimal import Decimal

from django.db.models import F

from catalog.models import CommitmentKind
from catalog.services import capacity_move, capacity_release
from marketplace.engine import Result
from marketplace.models import (
    FINAL_STATUSES,
    Contract,
    ContractLeg,
    Instrument,
    MatchState,
    Order,
    OrderAllocation,
    OrderCancel,
    OrderStatus,
    OrderType,
    Side,
    Trade,
)
from marketplace.services.pricing import band_high_price
from settlement.selectors import hold_is_open
from settlement.services import buy_hold_amount, hold_release, trade_settle


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


class Applier:
    def __init__(self, *, instrument: Instrument, state: MatchState):
        self.instrument = instrument
        self.trade_number = state.trades
        self.orders: dict[int, Order] = {}
        self.dirty: set[int] = set()

    # --- loading and saving ---------------------------------------------------------------------

    def _order(self, order_id) -> Order:
        pk = int(order_id)
        order = self.orders.get(pk)
        if order is None:
            order = self.orders[pk] = Order.objects.select_related("organisation").get(pk=pk)
        return order

    def flush(self) -> None:
        for pk in sorted(self.dirty):
            o = self.orders[pk]
            Order.objects.filter(pk=pk).update(
                status=o.status, filled_qty=o.filled_qty, filled_notional=o.filled_notional, end_reason=o.end_reason
            )
        self.dirty.clear()

    def _set(self, order: Order, status: str, reason: str = "") -> None:
        order.status = status
        if reason:
            order.end_reason = reason
        self.dirty.add(order.pk)

    # --- events ---------------------------------------------------------------------------------

    def apply(self, event: dict, result: Result) -> None:
        kind = event["event"]
        if kind == "cancel":
            self._cancelled(event, result)
        elif kind == "new":
            self._new(event, result)
        self.expire(result.expired, closing=False)

    def _cancelled(self, event: dict, result: Result) -> None:
        outcome = result.rejection.reason if result.rejection else "cancelled"
        OrderCancel.objects.filter(instrument=self.instrument, seq=event["seq"]).update(outcome=outcome)
        if result.rejection is None:
            order = self._order(event["order_id"])
            self._end(order, OrderStatus.CANCELLED, "cancelled")

    def _new(self, event: dict, result: Result) -> None:
        order = self._order(event["order_id"])
        if result.rejection is not None:  # entry checks the same rules: this should not happen
            self._end(order, OrderStatus.REJECTED, result.rejection.reason)
            return
        at = _time(event["ts"])
        for trade in result.trades:
            self._trade(trade, at)
        if order.remaining == 0:
            self._set(order, OrderStatus.FILLED)
        elif result.outcome == "rested":
            self._set(order, OrderStatus.OPEN)
        else:
            if order.tif == "FOK":
                reason = "fok_unfilled"
            elif order.tif == "IOC" or order.type == OrderType.MARKET:
                reason = "ioc_remainder"
            else:
                reason = "self_trade_prevented"
            self._end(order, OrderStatus.CANCELLED, reason)

    def expire(self, order_ids, *, closing: bool) -> None:
        for order_id in order_ids:
            order = self._order(order_id)
            if order.status not in FINAL_STATUSES:
                self._end(order, OrderStatus.EXPIRED, "window_opened" if closing else "gtd_expired")

    # --- trades ---------------------------------------------------------------------------------

    def _trade(self, t, at) -> None:
        buy, sell = self._order(t.buy_order_id), self._order(t.sell_order_id)
        hours = self.instrument.window_hours
        notional = t.price * t.qty * hours
        self.trade_number += 1
        buyer_maker = str(buy.pk) == t.maker_order_id
        buy.filled_qty += t.qty
        sell.filled_qty += t.qty
        buy.filled_notional += notional
        sell.filled_notional += notional
        buyer_fee, seller_fee = trade_settle(
            key=f"trade:{self.instrument.pk}:{self.trade_number}",
            hold_id=buy.hold_id,
            buyer=buy.organisation,
            seller=sell.organisation,
            notional=notional,
            buyer_maker=buyer_maker,
            keep=self._still_needed(buy),
        )
        trade = Trade.objects.create(
            instrument=self.instrument,
            number=self.trade_number,
            seq=t.seq,
            price=t.price,
            qty=t.qty,
            buy_order=buy,
            sell_order=sell,
            maker_order_id=int(t.maker_order_id),
            buyer=buy.organisation,
            seller=sell.organisation,
            notional=notional,
            buyer_fee=buyer_fee,
            seller_fee=seller_fee,
            executed_at=at,
        )
        contract = Contract.objects.create(
            trade=trade,
            instrument=self.instrument,
            holder=buy.organisation,
            seller=sell.organisation,
            qty=t.qty,
            price=t.price,
        )
        self._deliver(sell, contract, t.qty)
        for order in (buy, sell):
            if not order.remaining:
                self._set(order, OrderStatus.FILLED)
        self.dirty.update((buy.pk, sell.pk))

    def _still_needed(self, buy: Order) -> Decimal:
        """What a buy's unfilled remainder still needs on hold."""
        if not buy.remaining:
            return Decimal(0)
        limit = buy.price if buy.price is not None else band_high_price(self.instrument)
        return buy_hold_amount(price=limit, qty=buy.remaining, hours=self.instrument.window_hours)

    def _deliver(self, sell: Order, contract: Contract, qty: int) -> None:
        """Bind the contract to the pools the sell order offered: its units move from the order's
        offer (or from the resold contract) to the new contract, in allocation order."""
        legs: dict[int, int] = {}
        for allocation in OrderAllocation.objects.select_for_update().filter(order=sell).order_by("pk"):
            if not qty:
                break
            take = min(qty, allocation.open_units)
            if take <= 0:
                continue
            if allocation.pool_id is not None:
                capacity_move(
                    from_source=f"order:{sell.pk}:pool:{allocation.pool_id}",
                    to_source=f"contract:{contract.pk}:pool:{allocation.pool_id}",
                    units=take,
                    kind=CommitmentKind.COMMITTED,
                )
                legs[allocation.pool_id] = legs.get(allocation.pool_id, 0) + take
            else:
                self._resell(allocation.contract_id, contract, take, legs)
            OrderAllocation.objects.filter(pk=allocation.pk).update(filled=F("filled") + take)
            qty -= take
        if qty:
            raise RuntimeError(f"sell order {sell.pk} has no capacity left for {qty} unit(s)")
        ContractLeg.objects.bulk_create(ContractLeg(contract=contract, pool_id=p, units=u) for p, u in legs.items())

    def _resell(self, source_id: int, contract: Contract, qty: int, legs: dict[int, int]) -> None:
        Contract.objects.filter(pk=source_id).update(
            resale_reserved=F("resale_reserved") - qty, resold=F("resold") + qty
        )
        for leg in ContractLeg.objects.select_for_update().filter(contract_id=source_id, units__gt=0).order_by("pk"):
            take = min(qty, leg.units)
            capacity_move(
                from_source=leg.source,
                to_source=f"contract:{contract.pk}:pool:{leg.pool_id}",
                units=take,
                kind=CommitmentKind.COMMITTED,
            )
            ContractLeg.objects.filter(pk=leg.pk).update(units=F("units") - take)
            legs[leg.pool_id] = legs.get(leg.pool_id, 0) + take
            qty -= take
            if not qty:
                return
        raise RuntimeError(f"contract {source_id} has fewer units than its resale")

    # --- ends -----------------------------------------------------------------------------------

    def _end(self, order: Order, status: str, reason: str) -> None:
        """The order is done: give back what its unfilled part held."""
        self._set(order, status, reason)
        if order.side == Side.BUY:
            if order.hold_id is not None and hold_is_open(hold_id=order.hold_id):
                hold_release(idempotency_key=f"order:{order.pk}:end", hold_id=order.hold_id)
            return
        for allocation in OrderAllocation.objects.select_for_update().filter(order=order).order_by("pk"):
            left = allocation.open_units
            if left <= 0:
                continue
            if allocation.pool_id is not None:
                capacity_release(source=f"order:{order.pk}:pool:{allocation.pool_id}")
            else:
                Contract.objects.filter(pk=allocation.contract_id).update(resale_reserved=F("resale_reserved") - left)
            OrderAllocation.objects.filter(pk=allocation.pk).update(released=F("released") + left)
