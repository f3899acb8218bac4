"""Order entry (trading standard §4): every rule and the pre-trade check run atomically with
acceptance, which gives the order the instrument's next sequence number. A buy sets its funds
aside (a ledger hold); a sell offers capacity (contracts it holds first, then its pools' units in
the capacity layer). An order that fails anything is refused with a reason code and leaves no
trace; an accepted one is durable before the caller hears of it, and matching follows in a worker.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Membership, Organisation, User
from catalog.capacity import capacity_summary
from catalog.models import CommitmentKind, Pool, PoolStatus
from catalog.services import capacity_commit
from config.errors import Conflict, ExchangeError, NotAllowed
from marketplace.engine import order_check
from marketplace.locks import contracts_lock, instrument_lock, order_lock
from marketplace.models import (
    Instrument,
    Order,
    OrderAllocation,
    OrderCancel,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from marketplace.services.dispatch import matching_request
from marketplace.services.pricing import band_high_price
from settlement.services import buy_hold_amount, hold_place

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


def _offer_capacity(*, order: Order, instrument: Instrument) -> None:
    """Reserve a sell order's units: contracts the seller holds on this instrument first (resale),
    then the free units of its connected pools of that class, region and tier, in pool order."""
    needed = order.qty
    for contract in contracts_lock(holder=order.organisation, instrument=instrument):
        take = min(needed, contract.free_for_resale)
        if take <= 0:
            continue
        contract.resale_reserved += take
        contract.save(update_fields=["resale_reserved"])
        OrderAllocation.objects.create(order=order, contract=contract, units=take)
        needed -= take
        if not needed:
            return
    pools = list(
        Pool.objects.for_org(order.organisation)
        .filter(
            status=PoolStatus.CONNECTED,
            region=instrument.region_id,
            tier=instrument.tier,
            resources__resource_class=instrument.resource_class_id,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    free = {
        row["pool_id"]: row["sellable"]
        for row in capacity_summary(
            pool_ids=pools,
            start=instrument.window_start,
            end=instrument.window_end,
            resource_class=instrument.resource_class_id,
        )
    }
    for pool_id in pools:
        take = min(needed, free.get(pool_id, 0))
        if take <= 0:
            continue
        # capacity_commit locks the pool and re-checks under the lock: a racing sale loses here
        capacity_commit(
            pool_id=pool_id,
            resource_class=instrument.resource_class_id,
            kind=CommitmentKind.OFFERED,
            units=take,
            start=instrument.window_start,
            end=instrument.window_end,
            source=f"order:{order.pk}:pool:{pool_id}",
        )
        OrderAllocation.objects.create(order=order, pool_id=pool_id, units=take)
        needed -= take
        if not needed:
            return
    raise ExchangeError.on_field(
        "qty",
        "insufficient_capacity",
        f"You can offer {order.qty - needed} unit(s) of {instrument.resource_class_id} in "
        f"{instrument.region_id}/{instrument.tier} for this window (contracts held and free pool capacity).",
    )


def _accept(*, actor: User | None, organisation: Organisation, terms: OrderTerms, idempotency_key: str) -> Order:
    existing = Order.objects.filter(organisation=organisation, idempotency_key=idempotency_key).first()
    if existing is not None:
        if not _same_terms(existing, terms):
            raise Conflict("This Idempotency-Key was used for a different order.")
        return existing
    instrument = instrument_lock(code=terms.instrument)
    if instrument is None:
        raise ExchangeError.on_field("instrument", "unknown_instrument", f"No instrument {terms.instrument}.")
    now = instrument_tick(instrument)  # after the lock, so seq order is time order
    rejection = order_check(
        instrument=instrument.code,
        reference_price=instrument.reference_price,
        tick=instrument.tick,
        lot=instrument.lot,
        event=_event(terms),
        now=now,
    )
    if rejection is not None:
        raise _refuse(rejection.reason, rejection.detail)
    if (
        terms.client_order_id
        and Order.objects.filter(organisation=organisation, client_order_id=terms.client_order_id).exists()
    ):
        raise ExchangeError.on_field("client_order_id", "duplicate_client_order_id", "You already used this id.")
    instrument.last_seq += 1
    instrument.save(update_fields=["last_seq", "clock"])
    order = Order.objects.create(
        instrument=instrument,
        seq=instrument.last_seq,
        organisation=organisation,
        created_by=actor if getattr(actor, "pk", None) else None,
        idempotency_key=idempotency_key,
        client_order_id=terms.client_order_id,
        side=terms.side,
        type=terms.type,
        price=terms.price,
        qty=terms.qty,
        tif=terms.tif,
        expire_at=terms.expire_at,
        created_at=now,
    )
    if terms.side == Side.BUY:
        limit = terms.price if terms.price is not None else band_high_price(instrument)
        amount = buy_hold_amount(price=limit, qty=terms.qty, hours=instrument.window_hours)
        try:
            held = hold_place(
                idempotency_key=f"order:{order.pk}:hold",
                organisation=organisation,
                amount=amount,
                reference=f"order {order.pk} {instrument.code}",
            )
        except ExchangeError as exc:
            if exc.code == "insufficient_funds":
                raise ExchangeError.on_field(
                    "qty", "insufficient_funds", f"This order needs {amount} (limit notional + taker fee). {exc.detail}"
                ) from exc
            raise
        order.hold_id = held.hold.pk
        order.save(update_fields=["hold_id"])
    else:
        _offer_capacity(order=order, instrument=instrument)
    matching_request(instrument_id=instrument.pk)
    return order


def order_place(*, actor: User | None, organisation: Organisation, terms: OrderTerms, idempotency_key: str) -> Order:
    """Accept an order or refuse it with a reason code; once per idempotency key."""
    _trader(actor=actor, organisation=organisation)
    try:
        with transaction.atomic(durable=True):
            return _accept(actor=actor, organisation=organisation, terms=terms, idempotency_key=idempotency_key)
    except IntegrityError:  # the same key (or client id) raced in and committed first
        existing = Order.objects.filter(organisation=organisation, idempotency_key=idempotency_key).first()
        if existing is not None and _same_terms(existing, terms):
            return existing
        raise Conflict("This order collided with another (same Idempotency-Key or client_order_id).") from None


@dataclass(frozen=True)
class BatchResult:
    index: int
    order: Order | None
    error: ExchangeError | None


def orders_place_batch(
    *, actor: User | None, organisation: Organisation, orders: list[OrderTerms], idempotency_key: str
) -> list[BatchResult]:
    """Up to 100 orders in one transaction, each accepted or refused on its own (savepoints):
    one durable commit for the batch, one acknowledgement after it."""
    _trader(actor=actor, organisation=organisation)
    if not 1 <= len(orders) <= BATCH_LIMIT:
        raise ExchangeError.on_field("orders", "bad_batch", f"Send 1 to {BATCH_LIMIT} orders.")
    results = []
    with transaction.atomic(durable=True):
        for index, terms in enumerate(orders):
            try:
                with transaction.atomic():
                    order = _accept(
                        actor=actor,
                        organisation=organisation,
                        terms=terms,
                        idempotency_key=f"{idempotency_key}:{index}",
                    )
            except ExchangeError as exc:
                results.append(BatchResult(index, None, exc))
            except IntegrityError:
                results.append(BatchResult(index, None, Conflict("This order collided with another.")))
            else:
                results.append(BatchResult(index, order, None))
    return results


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
        if order.tif in (TimeInForce.IOC, TimeInForce.FOK) or order.type == OrderType.MARKET:
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
