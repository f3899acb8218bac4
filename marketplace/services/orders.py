"""Order entry (trading standard §4): every rule and the pre-trade check run atomically with
acceptance, which gives the order the instrument's next sequence number. A buy sets its funds
aside (a ledger hold); a sell offers capacity (contracts it holds first, then its pools' units in
the capacity layer). An order that fails anything is refused with a reason code and leaves no
trace; an accepted one is durable before the caller hears of it, and matching follows in a worker.
"""

import functools
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, connection, connections, router, transaction
from django.db.models import F
from django.db.models.base import ModelState
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Membership, Organisation, User
from accounts.selectors import membership_role
from catalog.services import Offer, Supply, capacity_offer_many, capacity_supply_lock
from config.errors import Conflict, ExchangeError, NotAllowed
from config.rows import (
    ids_draw_sql,
    ids_keep,
    ids_reserve,
    insert_rows,
    joined_fetch,
    placeholders,
    select_models,
    statements_joined,
)
from marketplace.engine import order_checker
from marketplace.locks import contracts_lock, instrument_advance, instrument_lock, order_lock
from marketplace.models import (
    Contract,
    Instrument,
    Order,
    OrderAllocation,
    OrderCancel,
    OrderStatus,
    Side,
    TimeInForce,
)
from marketplace.services.dispatch import matching_request
from marketplace.services.pricing import band_high_price
from settlement.services import buy_hold_amount, funds_lock, holds_place_many

BATCH_LIMIT = 100
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NO_NOTIONAL = Decimal(0)

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
    role = None
    if actor and actor.pk:
        role = membership_role(user_id=actor.pk, organisation_id=organisation.pk, user=actor)
    if role is None or role == Membership.Role.VIEWER:
        raise NotAllowed(gettext("Only owners, admins and traders place and cancel orders."), code="role_required")


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


# The pure engine words its details in English; the adapter translates the ones a page shows.
_ENGINE_DETAILS = (
    (re.compile(r"a positive multiple of (\S+)"), lambda n: gettext("a positive multiple of %(n)s") % {"n": n}),
    (re.compile(r"a multiple of (\S+)"), lambda n: gettext("a multiple of %(n)s") % {"n": n}),
    (re.compile(r"a price in whole ticks"), lambda: gettext("a price in whole ticks")),
    (re.compile(r"expire_at must be after the entry time"), lambda: gettext("expire_at must be after the entry time")),
    (re.compile(r"only GTD orders expire"), lambda: gettext("only GTD orders expire")),
)


def _engine_detail(detail: str) -> str:
    for pattern, say in _ENGINE_DETAILS:
        if match := pattern.fullmatch(detail or ""):
            return say(*match.groups())
    return detail


def _refuse(reason: str, detail: str):
    field = REASON_FIELDS.get(reason)
    detail = _engine_detail(detail)
    message = {
        "price_out_of_band": gettext("The price is outside the band %(band)s (0.50–3.00 × the reference price).")
        % {"band": detail},
        "off_tick": gettext("The price must be %(detail)s.") % {"detail": detail},
        "bad_lot": gettext("The quantity must be %(detail)s.") % {"detail": detail},
        "instrument_closed": gettext("Trading in this instrument has closed: its window has opened."),
        "bad_expiry": gettext("Expiry: %(detail)s.") % {"detail": detail},
        "bad_market_order": gettext("A market order has no price and is IOC or FOK."),
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


def _keys_used(*, organisation: Organisation, keys: list[str]) -> bool:
    """Whether any of the keys was used before. The range (the keys' lowest to highest) pins the
    plan to the (organisation, key) index whatever the statistics say: without it, an
    organisation with many orders and stale statistics had the planner scan all of them. On
    PostgreSQL the keys go as one array (a hundred parameters cost psycopg more to bind than the
    query costs to run)."""
    if connection.vendor == "postgresql":
        among, params = "= ANY(%s)", [keys]
    else:
        among, params = f"IN ({placeholders(keys)})", keys
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {Order._meta.db_table} WHERE organisation_id = %s "  # noqa: S608
            f"AND idempotency_key BETWEEN %s AND %s AND idempotency_key {among} LIMIT 1",
            [organisation.pk, min(keys), max(keys), *params],
        )
        return cursor.fetchone() is not None


def _instruments(codes: list[str], *, draw: bool) -> dict[str, Instrument]:
    """The instruments by code: their terms are fixed at listing, so read without a lock (it is
    taken last). ``draw``: a single order's, whose key is drawn by the same query where
    ``statements_joined`` keeps it (a round trip less; a refused order leaves a gap in the keys,
    as a rolled-back one always did)."""
    nextval = ids_draw_sql(Order) if draw and len(codes) == 1 else None
    if nextval is None:
        return {i.code: i for i in select_models(Instrument, f"code IN ({placeholders(codes)})", codes)}
    connection = connections[router.db_for_read(Instrument)]
    fields = Instrument._meta.concrete_fields
    columns = ", ".join(f'"{f.column}"' for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns}, {nextval} FROM {Instrument._meta.db_table} WHERE code = %s", codes)  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        return {}
    ids_keep(Order, [row[-1]])
    instrument = Instrument.from_db(connection.alias, [f.attname for f in fields], row[:-1])
    return {instrument.code: instrument}


ADVANCED = {"seq": "adv.last_seq", "created_at": "adv.clock", "updated_at": "adv.clock"}


@functools.cache
def _order_insert_advancing_sql() -> str:
    columns = ", ".join(f'"{f.column}"' for f in Order._meta.concrete_fields)
    values = ", ".join(ADVANCED.get(name, "%s") for name in ORDER_FIELDS)
    return (
        f"WITH adv AS (UPDATE {Instrument._meta.db_table} SET last_seq = last_seq + 1, "  # noqa: S608
        "clock = GREATEST(clock, %s) WHERE id = %s RETURNING last_seq, clock) "
        f"INSERT INTO {Order._meta.db_table} ({columns}) SELECT {values} FROM adv RETURNING seq, created_at"
    )


def _order_insert_advancing(row: tuple, *, instrument: Instrument, now: datetime) -> tuple[int, datetime]:
    """A single accepted order on PostgreSQL: the instrument's next sequence number and time
    (``instrument_advance``'s rule: now, never before a time already handed out) and the order
    written with them, in one statement sent after the writes held back (so the instrument is
    still locked last). ``row``: the order's values, its seq and times left out. Returns the
    number and the time."""
    given = [v for name, v in zip(ORDER_FIELDS, row, strict=True) if name not in ADVANCED]
    ((seq, tick),) = joined_fetch(Order, _order_insert_advancing_sql(), [now, instrument.pk, *given])
    instrument.last_seq, instrument.clock = seq, tick
    return seq, tick


class _Later(Exception):  # noqa: N818 (a signal, not an error)
    """An order passed its time rules at the time of deciding but not at the time the locked
    instrument gave it (the window opened, a GTD expiry passed, in between): decide again from
    that time."""

    def __init__(self, now: datetime):
        self.now = now


ORDER_FIELDS = [f.attname for f in Order._meta.concrete_fields]
if ORDER_FIELDS != [  # _Intake._row writes a new order's values in this order
    "id", "instrument_id", "seq", "organisation_id", "created_by_id", "idempotency_key", "client_order_id", "side",
    "type", "price", "qty", "tif", "expire_at", "status", "filled_qty", "hold_id", "filled_notional", "end_reason",
    "cancel_requested_at", "created_at", "updated_at",
]:  # fmt: skip
    raise ImportError("Order's fields changed: update _Intake._row")
PENDING = OrderStatus.PENDING.value


def _order(row: tuple, instrument: Instrument, alias: str) -> Order:
    """The Order just written, as the ORM would load it (without running Model.__init__ per
    field: this is per accepted order)."""
    order = Order.__new__(Order)
    order.__dict__.update(zip(ORDER_FIELDS, row, strict=True))
    order._state = ModelState()
    order._state.adding, order._state.db = False, alias
    order._state.fields_cache["instrument"] = instrument
    return order


ALLOCATION_FIELDS = ["order_id", "pool_id", "contract_id", "units", "filled", "released"]


class _Intake:
    """One batch of orders from one organisation, decided in memory and written with a few
    set-based statements: the rules checked against the instruments' fixed terms; the funds
    (buyer's accounts) and supply (seller's contracts and pools) locked, and what fits decided and
    set aside; then, last and briefly, each instrument row locked to hand out its sequence numbers
    and its time, and the orders written. An order that fails a rule or does not fit is refused on
    its own.

    The instrument lock comes last because every order of the instrument waits for it: it is held
    from handing out the numbers to the commit, so that orders commit in sequence order. Its time
    is known only then; the only rules that depend on time (the window not yet open, a GTD expiry
    still ahead) can only turn from pass to fail as time goes on, so they are checked again at that
    time, and a batch where one now fails is decided again from it (``_Later``)."""

    def __init__(
        self, *, actor: User | None, organisation: Organisation, floor: datetime | None = None, repeats: bool = True
    ):
        self.actor = actor if getattr(actor, "pk", None) else None
        self.organisation = organisation
        self.floor = floor
        self.repeats = repeats  # False: take every key as new (the orders' unique key refuses a repeat)

    def run(self, items: list[tuple[OrderTerms, str]]) -> list[Order | ExchangeError]:
        results: list[Order | ExchangeError | None] = [None] * len(items)
        keys = [key for _, key in items]
        client_ids = {terms.client_order_id for terms, _ in items} - {""}
        taken_ids = (
            set(
                Order.objects.filter(organisation=self.organisation, client_order_id__in=client_ids).values_list(
                    "client_order_id", flat=True
                )
            )
            if client_ids
            else set()
        )
        existing = {}
        # a client id already taken may be this very order, repeated: look the keys up then too
        if (self.repeats or taken_ids) and _keys_used(organisation=self.organisation, keys=keys):  # a repeat: rare
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
                results[i] = (
                    existing[key] if same else Conflict(gettext("This Idempotency-Key was used for a different order."))
                )
            else:
                fresh.append(i)
        if not fresh:
            return results
        # the instruments' terms are fixed at listing: read without a lock (it is taken last)
        instruments = _instruments(sorted({items[i][0].instrument for i in fresh}), draw=len(fresh) == 1)
        checked = self._rules(items, fresh, instruments, taken_ids, results)
        funds = self._funds(items, checked, instruments, results)
        supply, supplies = self._supply(items, checked, instruments, results)
        accepted = [i for i in checked if results[i] is None]
        if not accepted:
            return results
        ids = dict(zip(accepted, ids_reserve(Order, len(accepted)), strict=True))
        holds = self._hold(items, ids, funds)
        self._offer(items, ids, supply, supplies, instruments)
        now = timezone.now()
        alias = router.db_for_write(Order)
        if len(accepted) == 1 and connections[alias].vendor == "postgresql":
            (i,) = accepted
            instrument = instruments[items[i][0].instrument]
            row = self._row(items[i], ids[i], instrument, None, None, holds.get(i))
            seq, tick = _order_insert_advancing(row, instrument=instrument, now=now)
            if self._late(items[i][0], instrument, tick):
                raise _Later(tick)  # the order written is rolled back with the rest
            results[i] = _order((*row[:2], seq, *row[3:19], tick, tick), instrument, alias)
            matching_request(instrument_id=instrument.pk)
            return results
        orders = []
        for code in sorted({items[i][0].instrument for i in accepted}, key=lambda c: instruments[c].pk):
            instrument = instruments[code]
            mine = [i for i in accepted if items[i][0].instrument == code]
            last_seq, tick = instrument_advance(instrument=instrument, events=len(mine), now=now)
            if any(self._late(items[i][0], instrument, tick) for i in mine):
                raise _Later(tick)
            for seq, i in enumerate(mine, start=last_seq - len(mine) + 1):
                orders.append((i, self._row(items[i], ids[i], instrument, seq, tick, holds.get(i))))
        insert_rows(Order, ORDER_FIELDS, [row for _, row in orders])
        for i, row in orders:
            results[i] = _order(row, instruments[items[i][0].instrument], alias)
        for code in {items[i][0].instrument for i in accepted}:
            matching_request(instrument_id=instruments[code].pk)
        return results

    def _row(self, item: tuple[OrderTerms, str], pk: int, instrument: Instrument, seq: int, now, hold_id) -> tuple:
        """A new order's values, in ``ORDER_FIELDS``' order."""
        terms, key = item
        return (
            pk, instrument.id, seq, self.organisation.id, self.actor.id if self.actor else None, key,
            terms.client_order_id, terms.side, terms.type, terms.price, terms.qty, terms.tif, terms.expire_at,
            PENDING, 0, hold_id, NO_NOTIONAL, "", None, now, now,
        )  # fmt: skip

    # --- the rules (§4), as matching applies them ------------------------------------------------

    def _rules(self, items, fresh, instruments, taken_ids, results) -> list[int]:
        """The orders that pass every rule at the time of deciding (the instruments' clocks as
        read, now, and the floor, whichever is latest)."""
        now = max(timezone.now(), self.floor or EPOCH)
        checkers, checked = {}, []
        for i in fresh:
            terms = items[i][0]
            instrument = instruments.get(terms.instrument)
            if instrument is None:
                results[i] = ExchangeError.on_field(
                    "instrument",
                    "unknown_instrument",
                    gettext("No instrument %(code)s.") % {"code": terms.instrument},
                )
                continue
            check = checkers.get(terms.instrument)
            if check is None:
                check = checkers[terms.instrument] = order_checker(
                    instrument=instrument.code,
                    reference_price=instrument.reference_price,
                    tick=instrument.tick.normalize(),
                    lot=instrument.lot,
                )
            at = max(now, instrument.clock) if instrument.clock is not None else now
            rejection = check(_event(terms), at)
            if rejection is not None:
                results[i] = _refuse(rejection.reason, rejection.detail)
            elif terms.client_order_id and terms.client_order_id in taken_ids:
                results[i] = ExchangeError.on_field(
                    "client_order_id", "duplicate_client_order_id", gettext("You already used this id.")
                )
            else:
                if terms.client_order_id:
                    taken_ids.add(terms.client_order_id)
                checked.append(i)
        return checked

    @staticmethod
    def _late(terms: OrderTerms, instrument: Instrument, now: datetime) -> bool:
        """Whether a rule that depends on time fails at ``now`` (the rest do not change)."""
        return now >= instrument.window_start or (terms.tif == TimeInForce.GTD and terms.expire_at <= now)

    # --- buys: funds ----------------------------------------------------------------------------

    def _funds(self, items, checked, instruments, results) -> dict[int, Decimal]:
        """Each buy's hold, in order, while the available funds last."""
        buys = [i for i in checked if items[i][0].side == Side.BUY]
        if not buys:
            return {}
        self.funds = funds_lock(organisation=self.organisation, holds=1 if len(checked) == 1 else 0)
        available = self.funds.available
        amounts, band_high = {}, {}
        for i in buys:
            terms = items[i][0]
            instrument = instruments[terms.instrument]
            limit = terms.price
            if limit is None:
                limit = band_high.get(instrument.code) or band_high.setdefault(
                    instrument.code, band_high_price(instrument)
                )
            amount = buy_hold_amount(price=limit, qty=terms.qty, hours=instrument.window_hours)
            if amount > available:
                results[i] = ExchangeError.on_field(
                    "qty",
                    "insufficient_funds",
                    gettext("This order needs %(amount)s (limit notional + taker fee); %(available)s is available.")
                    % {"amount": amount, "available": max(available, 0)},
                )
                continue
            available -= amount
            amounts[i] = amount
        return amounts

    def _hold(self, items, ids, funds) -> dict[int, int]:
        """The buys' holds, placed together; each order's hold id."""
        buys = [i for i in ids if i in funds]
        if not buys:
            return {}
        hold_ids = holds_place_many(
            organisation=self.organisation,
            funds=self.funds,
            items=[(f"order:{ids[i]}:hold", funds[i], f"order {ids[i]} {items[i][0].instrument}") for i in buys],
        )
        return dict(zip(buys, hold_ids, strict=True))

    # --- sells: contracts held, then free pool capacity -----------------------------------------

    def _supply(self, items, checked, instruments, results):
        """Each sell's sources, in order: ("contract", id, units) or ("pool", id, units); and the
        pools locked per instrument."""
        sells = [i for i in checked if items[i][0].side == Side.SELL]
        plans: dict[int, list[tuple[str, int, int]]] = {}
        supplies: dict[str, Supply] = {}
        for code in sorted({items[i][0].instrument for i in sells}):
            instrument = instruments[code]
            contracts = {c.pk: c for c in contracts_lock(holder=self.organisation, instrument=instrument)}
            free_contracts = {pk: c.free_for_resale for pk, c in contracts.items()}
            supply = supplies[code] = capacity_supply_lock(
                provider=self.organisation, region=instrument.region_id, tier=instrument.tier,
                resource_class=instrument.resource_class_id, start=instrument.window_start, end=instrument.window_end,
            )  # fmt: skip
            free_pools = dict(supply.sellable)
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
                        gettext(
                            "You can offer %(n)s unit(s) of %(cls)s in %(region)s/%(tier)s for this window "
                            "(contracts held and free pool capacity)."
                        )
                        % {
                            "n": items[i][0].qty - needed,
                            "cls": instrument.resource_class_id,
                            "region": instrument.region_id,
                            "tier": instrument.tier,
                        },
                    )
                    continue
                for kind, pk, take in plan:
                    (free_contracts if kind == "contract" else free_pools)[pk] -= take
                plans[i] = plan
        return plans, supplies

    def _offer(self, items, ids, supply, supplies, instruments) -> None:
        allocations, offers, reserved = [], defaultdict(list), defaultdict(int)
        for i, pk in ids.items():
            code = items[i][0].instrument
            for kind, source, units in supply.get(i, []):
                if kind == "contract":
                    allocations.append((pk, None, source, units, 0, 0))
                    reserved[source] += units
                else:
                    allocations.append((pk, source, None, units, 0, 0))
                    instrument = instruments[code]
                    offers[code].append(Offer(source=f"order:{pk}:pool:{source}", pool_id=source,
                                              resource_class=instrument.resource_class_id, units=units,
                                              start=instrument.window_start, end=instrument.window_end))  # fmt: skip
        for contract_id, units in reserved.items():
            Contract.objects.filter(pk=contract_id).update(resale_reserved=F("resale_reserved") + units)
        for code, of_instrument in offers.items():
            capacity_offer_many(offers=of_instrument, supply=supplies[code])  # checked against the pools locked
        insert_rows(OrderAllocation, ALLOCATION_FIELDS, allocations)


def _place(*, actor, organisation, items: list[tuple[OrderTerms, str]]) -> list[Order | ExchangeError]:
    """Run a batch durably. The first run takes its keys as new, without asking (a repeat is rare:
    a client's retry), and the orders' unique (organisation, key) refuses a key used before, which
    rolls the run back; the batch then runs again looking its keys up, and finds what they
    placed. A concurrent request with the same key (or client id) that committed first does the
    same; so does an order whose time rule failed at the instrument's time (each such run refuses
    at least one more order, so this ends)."""
    floor, repeats, collided = None, False, False
    while True:
        try:
            with transaction.atomic(durable=True), statements_joined(Order):
                return _Intake(actor=actor, organisation=organisation, floor=floor, repeats=repeats).run(items)
        except _Later as later:
            floor = later.now
        except IntegrityError:
            if collided:
                raise Conflict("These orders collided with others (same Idempotency-Key or client_order_id).") from None
            collided, repeats = repeats, True


def order_place_within(
    *, actor: User | None, organisation: Organisation, terms: OrderTerms, idempotency_key: str
) -> Order:
    """``order_place`` inside the caller's transaction (which must be open), for an operation
    that places several things at once or none (a scheduled demand's confirmation): the same
    rules and locks in the same order (the buyer's funds, then the instrument), the same
    refusals; the order is accepted when the caller commits, and matching is asked for then. A
    key used before is looked up (not taken as new: the caller's transaction cannot be retried
    from here)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("order_place_within needs the caller's transaction")
    _trader(actor=actor, organisation=organisation)
    floor = None
    while True:
        try:
            with transaction.atomic():  # a savepoint: a run decided again leaves nothing behind
                intake = _Intake(actor=actor, organisation=organisation, floor=floor, repeats=True)
                (result,) = intake.run([(terms, idempotency_key)])
        except _Later as later:
            floor = later.now
            continue
        except IntegrityError:
            raise Conflict(gettext("This order collided with another (same Idempotency-Key).")) from None
        if isinstance(result, ExchangeError):
            raise result
        return result


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
            raise ExchangeError(gettext("No such order."), code="not_found", status=404)
        instrument = instrument_lock(pk=found)  # the instrument first, as acceptance locks it
        order = order_lock(order_id=order_id, organisation=organisation)
        if order.status not in (OrderStatus.PENDING, OrderStatus.OPEN):
            raise ExchangeError(
                gettext("The order is already %(status)s.") % {"status": order.status},
                code="order_finished",
                status=409,
            )
        if order.cancel_requested_at is not None:
            return order
        if not order.rests:
            raise ExchangeError(
                gettext("IOC, FOK and market orders never rest; nothing to cancel."), code="order_finished"
            )
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
