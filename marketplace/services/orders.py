"""Order entry (trading standard §4): every rule and the pre-trade check run atomically with
acceptance, which gives the order the instrument's next sequence number. A buy sets its funds
aside (a ledger hold); a sell offers capacity (contracts it holds first, then its pools' units in
the capacity layer). An order that fails anything is refused with a reason code and leaves no
trace; an accepted one is durable before the caller hears of it, and matching follows in a worker.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Membership, Organisation, User
from catalog.capacity import capacity_summary
from catalog.locks import pools_lock
from catalog.models import Pool, PoolStatus
from catalog.services import Offer, capacity_offer_many
from config.bulk import bulk_insert, bulk_set
from config.errors import Conflict, ExchangeError, NotAllowed
from marketplace.engine import order_check
from marketplace.locks import contracts_lock, instrument_lock, instruments_lock, order_lock
from marketplace.models import (
    Contract,
    Instrument,
    Order,
    OrderAllocation,
    OrderCancel,
    OrderStatus,
    Side,
)
from marketplace.services.dispatch import matching_request
from marketplace.services.pricing import band_high_price
from settlement.services import buy_hold_amount, funds_lock, holds_place_many

BATCH_LIMIT = 100

# the engine's reason codes, each tied to the field it is about
REASON_FIELDS = {
    "bad_side": "side",
    "bad_type": "type",
    "bad_tif": "tif",
    "bad_lot": "qty",
    "bad_market_order": "price",
    "bad_price": "price",
    "off_tick": "price",
    "price_out_of_band": "price",
    "bad_expiry": "expire_at",
    "instrument_closed": "instrument",
    "unknown_instrument": "instrument",
}


@dataclass(frozen=True)
class OrderTerms:
    instrument: str
    side: str
    type: str
    qty: int
    tif: str
    price: Decimal | None = None
    expire_at: datetime | None = None
    client_order_id: str = ""


def instrument_tick(instrument: Instrument) -> datetime:
    """The time for the instrument's next event, on its locked row: now, but never before a time
    already handed out (so ``ts`` never decreases along ``seq``, and nothing accepted after a
    sweep is stamped before it)."""
    now = timezone.now()
    if instrument.clock is not None and instrument.clock > now:
        now = instrument.clock
    instrument.clock = now
    return now


def _trader(*, actor: User | None, organisation: Organisation) -> None:
    membership = Membership.objects.filter(user=actor, organisation=organisation).first() if actor else None
    if membership is None or not membership.can_write:
        raise NotAllowed("Only owners, admins and traders place and cancel orders.", code="role_required")


def _same_terms(order: Order, terms: OrderTerms) -> bool:
    return (
        order.instrument.code,
        order.side,
        order.type,
        order.qty,
        order.tif,
        order.price,
        order.expire_at,
        order.client_order_id,
    ) == (
        terms.instrument,
        terms.side,
        terms.type,
        terms.qty,
        terms.tif,
        terms.price,
        terms.expire_at,
        terms.client_order_id,
    )


def _refuse(reason: str, detail: str):
    field = REASON_FIELDS.get(reason)
    message = {
        "price_out_of_band": f"The price is outside the band {detail} (0.50–3.00 × the reference price).",
        "off_tick": f"The price must be {detail}.",
        "bad_lot": f"The quantity must be {detail}.",
        "instrument_closed": "Trading in this instrument has closed: its window has opened.",
        "bad_expiry": f"Expiry: {detail}.",
        "bad_market_order": "A market order has no price and is IOC or FOK.",
    }.get(reason, detail or reason)
    if field:
        return ExchangeError.on_field(field, reason, message)
    return ExchangeError(message, code=reason)


def _event(terms: OrderTerms) -> dict:
    event = {"side": terms.side, "type": terms.type, "qty": terms.qty, "tif": terms.tif}
    if terms.price is not None:
        event["price"] = str(terms.price)
    if terms.expire_at is not None:
        event["expire_at"] = terms.expire_at
    return event


class _Intake:
    """One batch of orders from one organisation, decided in memory under the locks and written
    with a few set-based statements: the instruments locked (their seq and clock), then what the
    orders draw on — the seller's contracts and pools, the buyer's funds — then everything
    inserted at once. An order that fails a rule or does not fit is refused on its own."""

    def __init__(self, *, actor: User | None, organisation: Organisation):
        self.actor = actor if getattr(actor, "pk", None) else None
        self.organisation = organisation

    def run(self, items: list[tuple[OrderTerms, str]]) -> list[Order | ExchangeError]:
        results: list[Order | ExchangeError | None] = [None] * len(items)
        keys = [key for _, key in items]
        existing = {
            o.idempotency_key: o
            for o in Order.objects.filter(organisation=self.organisation, idempotency_key__in=keys).select_related(
                "instrument"
            )
        }
        fresh = []
        for i, (terms, key) in enumerate(items):
            if key in existing:
                same = _same_terms(existing[key], terms)
                results[i] = existing[key] if same else Conflict("This Idempotency-Key was used for a different order.")
            else:
                fresh.append(i)
        if not fresh:
            return results
        codes = sorted({items[i][0].instrument for i in fresh})
        instruments = instruments_lock(codes=codes)
        now = {code: instrument_tick(instrument) for code, instrument in instruments.items()}
        client_ids = {items[i][0].client_order_id for i in fresh} - {""}
        taken_ids = set(
            Order.objects.filter(organisation=self.organisation, client_order_id__in=client_ids).values_list(
                "client_order_id", flat=True
            )
        )
        checked = []
        for i in fresh:
            terms = items[i][0]
            instrument = instruments.get(terms.instrument)
            error = self._rules(terms, instrument, now.get(terms.instrument), taken_ids)
            if error is not None:
                results[i] = error
                continue
            if terms.client_order_id:
                taken_ids.add(terms.client_order_id)
            checked.append(i)
        funds = self._funds(items, checked, instruments, results)
        supply = self._supply(items, checked, instruments, results)
        accepted = [i for i in checked if results[i] is None]
        orders = []
        for i in accepted:
            terms, key = items[i]
            instrument = instruments[terms.instrument]
            instrument.last_seq += 1
            orders.append(
                Order(
                    instrument=instrument, seq=instrument.last_seq, organisation=self.organisation,
                    created_by=self.actor, idempotency_key=key, client_order_id=terms.client_order_id,
                    side=terms.side, type=terms.type, price=terms.price, qty=terms.qty, tif=terms.tif,
                    expire_at=terms.expire_at, created_at=now[terms.instrument],
                )
            )  # fmt: skip
        bulk_insert(orders)
        for i, order in zip(accepted, orders, strict=True):
            results[i] = order
        bulk_set(instruments.values(), ["last_seq", "clock"])
        self._hold(accepted, orders, funds)
        self._offer(accepted, orders, supply)
        for instrument in {o.instrument_id for o in orders}:
            matching_request(instrument_id=instrument)
        return results

    # --- the rules (§4), as matching applies them ------------------------------------------------

    def _rules(self, terms: OrderTerms, instrument, now, taken_ids) -> ExchangeError | None:
        if instrument is None:
            return ExchangeError.on_field("instrument", "unknown_instrument", f"No instrument {terms.instrument}.")
        rejection = order_check(
            instrument=instrument.code,
            reference_price=instrument.reference_price,
            tick=instrument.tick.normalize(),
            lot=instrument.lot,
            event=_event(terms),
            now=now,
        )
        if rejection is not None:
            return _refuse(rejection.reason, rejection.detail)
        if terms.client_order_id and terms.client_order_id in taken_ids:
            return ExchangeError.on_field("client_order_id", "duplicate_client_order_id", "You already used this id.")
        return None

    # --- buys: funds ----------------------------------------------------------------------------

    def _funds(self, items, checked, instruments, results) -> dict[int, Decimal]:
        """Each buy's hold, in order, while the available funds last."""
        buys = [i for i in checked if items[i][0].side == Side.BUY]
        if not buys:
            return {}
        available = funds_lock(organisation=self.organisation)
        amounts = {}
        for i in buys:
            terms = items[i][0]
            instrument = instruments[terms.instrument]
            limit = terms.price if terms.price is not None else band_high_price(instrument)
            amount = buy_hold_amount(price=limit, qty=terms.qty, hours=instrument.window_hours)
            if amount > available:
                results[i] = ExchangeError.on_field(
                    "qty",
                    "insufficient_funds",
                    f"This order needs {amount} (limit notional + taker fee); {max(available, 0)} is available.",
                )
                continue
            available -= amount
            amounts[i] = amount
        return amounts

    def _hold(self, accepted, orders, funds) -> None:
        pairs = [(order, funds[i]) for i, order in zip(accepted, orders, strict=True) if i in funds]
        holds = holds_place_many(
            organisation=self.organisation,
            items=[(f"order:{o.pk}:hold", amount, f"order {o.pk} {o.instrument.code}") for o, amount in pairs],
        )
        for (order, _), hold in zip(pairs, holds, strict=True):
            order.hold_id = hold.pk
        bulk_set([order for order, _ in pairs], ["hold_id"])

    # --- sells: contracts held, then free pool capacity -----------------------------------------

    def _supply(self, items, checked, instruments, results) -> dict[int, list[tuple[str, int, int]]]:
        """Each sell's sources, in order: ("contract", id, units) or ("pool", id, units)."""
        sells = [i for i in checked if items[i][0].side == Side.SELL]
        plans: dict[int, list[tuple[str, int, int]]] = {}
        for code in sorted({items[i][0].instrument for i in sells}):
            instrument = instruments[code]
            contracts = {c.pk: c for c in contracts_lock(holder=self.organisation, instrument=instrument)}
            free_contracts = {pk: c.free_for_resale for pk, c in contracts.items()}
            pools = pools_lock(
                pool_ids=Pool.objects.for_org(self.organisation)
                .filter(status=PoolStatus.CONNECTED, region=instrument.region_id, tier=instrument.tier,
                        resources__resource_class=instrument.resource_class_id)
                .values_list("pk", flat=True)
            )  # fmt: skip
            free_pools = {
                row["pool_id"]: row["sellable"]
                for row in capacity_summary(
                    pool_ids=pools,
                    start=instrument.window_start,
                    end=instrument.window_end,
                    resource_class=instrument.resource_class_id,
                )  # fmt: skip
            }
            for i in (i for i in sells if items[i][0].instrument == code):
                needed, plan = items[i][0].qty, []
                for kind, free in (("contract", free_contracts), ("pool", free_pools)):
                    for pk in sorted(free):
                        take = min(needed, free[pk])
                        if take > 0:
                            plan.append((kind, pk, take))
                            needed -= take
                if needed:
                    results[i] = ExchangeError.on_field(
                        "qty",
                        "insufficient_capacity",
                        f"You can offer {items[i][0].qty - needed} unit(s) of {instrument.resource_class_id} in "
                        f"{instrument.region_id}/{instrument.tier} for this window (contracts held and free pool "
                        "capacity).",
                    )
                    continue
                for kind, pk, take in plan:
                    (free_contracts if kind == "contract" else free_pools)[pk] -= take
                plans[i] = plan
        return plans

    def _offer(self, accepted, orders, supply) -> None:
        allocations, offers, reserved = [], [], defaultdict(int)
        for i, order in zip(accepted, orders, strict=True):
            for kind, pk, units in supply.get(i, []):
                if kind == "contract":
                    allocations.append(OrderAllocation(order=order, contract_id=pk, units=units))
                    reserved[pk] += units
                else:
                    allocations.append(OrderAllocation(order=order, pool_id=pk, units=units))
                    instrument = order.instrument
                    offers.append(Offer(source=f"order:{order.pk}:pool:{pk}", pool_id=pk,
                                        resource_class=instrument.resource_class_id, units=units,
                                        start=instrument.window_start, end=instrument.window_end))  # fmt: skip
        for contract_id, units in reserved.items():
            Contract.objects.filter(pk=contract_id).update(resale_reserved=F("resale_reserved") + units)
        capacity_offer_many(offers=offers)  # re-checked under the pool locks taken above
        bulk_insert(allocations)


def _place(*, actor, organisation, items: list[tuple[OrderTerms, str]]) -> list[Order | ExchangeError]:
    """Run a batch durably; a concurrent request with the same key (or client id) that committed
    first makes the batch run again, finding it."""
    for attempt in range(2):
        try:
            with transaction.atomic(durable=True):
                return _Intake(actor=actor, organisation=organisation).run(items)
        except IntegrityError:
            if attempt:
                raise Conflict("These orders collided with others (same Idempotency-Key or client_order_id).") from None
    raise AssertionError("unreachable")


def order_place(*, actor: User | None, organisation: Organisation, terms: OrderTerms, idempotency_key: str) -> Order:
    """Accept an order or refuse it with a reason code; once per idempotency key."""
    _trader(actor=actor, organisation=organisation)
    (result,) = _place(actor=actor, organisation=organisation, items=[(terms, idempotency_key)])
    if isinstance(result, ExchangeError):
        raise result
    return result


@dataclass(frozen=True)
class BatchResult:
    index: int
    order: Order | None
    error: ExchangeError | None


def orders_place_batch(
    *, actor: User | None, organisation: Organisation, orders: list[OrderTerms], idempotency_key: str
) -> list[BatchResult]:
    """Up to 100 orders in one durable transaction, each accepted or refused on its own: one
    commit for the batch, one acknowledgement after it."""
    _trader(actor=actor, organisation=organisation)
    if not 1 <= len(orders) <= BATCH_LIMIT:
        raise ExchangeError.on_field("orders", "bad_batch", f"Send 1 to {BATCH_LIMIT} orders.")
    items = [(terms, f"{idempotency_key}:{index}") for index, terms in enumerate(orders)]
    results = _place(actor=actor, organisation=organisation, items=items)
    return [
        BatchResult(i, None, r) if isinstance(r, ExchangeError) else BatchResult(i, r, None)
        for i, r in enumerate(results)
    ]


def order_cancel(*, actor: User | None, organisation: Organisation, order_id: int) -> Order:
    """Ask for an order's cancellation: the request is the log's next event, and matching decides
    (an order filled meanwhile stays filled). Asking again changes nothing."""
    _trader(actor=actor, organisation=organisation)
    with transaction.atomic(durable=True):
        found = Order.objects.for_org(organisation).filter(pk=order_id).values_list("instrument_id", flat=True).first()
        if found is None:
            raise ExchangeError("No such order.", code="not_found", status=404)
        instrument = instrument_lock(pk=found)  # the instrument first, as acceptance locks it
        order = order_lock(order_id=order_id, organisation=organisation)
        if order.status not in (OrderStatus.PENDING, OrderStatus.OPEN):
            raise ExchangeError(f"The order is already {order.status}.", code="order_finished", status=409)
        if order.cancel_requested_at is not None:
            return order
        if not order.rests:
            raise ExchangeError("IOC, FOK and market orders never rest; nothing to cancel.", code="order_finished")
        now = instrument_tick(instrument)
        instrument.last_seq += 1
        instrument.save(update_fields=["last_seq", "clock"])
        OrderCancel.objects.create(
            instrument=instrument,
            seq=instrument.last_seq,
            order=order,
            requested_by=actor if getattr(actor, "pk", None) else None,
            created_at=now,
        )
        order.cancel_requested_at = now
        order.save(update_fields=["cancel_requested_at", "updated_at"])
        matching_request(instrument_id=instrument.pk)
    return order
