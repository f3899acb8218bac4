"""Reads of the exchange's records. Tenant reads take the organisation they are scoped to."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Case, Count, F, Max, Prefetch, Q, Value, When

from catalog.models import PoolStatus
from marketplace.charges import billable_minutes
from marketplace.models import (
    Billing,
    Contract,
    ContractLeg,
    Listing,
    Order,
    OrderAllocation,
    OrderStatus,
    Reservation,
    ReservationStatus,
    Trade,
)
from settlement.rating.per_time import time_amount


def orders_for_org(*, organisation, status: str | None = None, instrument: str | None = None):
    orders = Order.objects.for_org(organisation).select_related("instrument")
    if status:
        orders = orders.filter(status=status)
    if instrument:
        orders = orders.filter(instrument__code=instrument)
    return orders


def trades_for_org(*, organisation):
    return (
        Trade.objects.filter(Q(buyer=organisation) | Q(seller=organisation))
        .select_related("instrument")
        .order_by("-executed_at", "-number")
    )


# a matching batch's name, the source of its netted ledger entries: match:<instrument id>:<first>-<last seq>
MATCH_BATCH = re.compile(r"\Amatch:(\d{1,18}):(\d{1,18})-(\d{1,18})\Z")


def match_batch_name(*, instrument_id: int, first_seq: int, last_seq: int) -> str:
    """The name matching gives a batch of the instrument's log (e.g. ``match:3:1-5000``)."""
    return f"match:{instrument_id}:{first_seq}-{last_seq}"


def match_batch_bounds(name: str) -> tuple[int, int, int] | None:
    """(instrument id, first seq, last seq) of a matching batch named ``name`` (what its
    ``trade.settle`` entry's postings give as their source), or None if ``name`` is not one. The
    batch's trades are the instrument's with ``seq`` in that range."""
    found = MATCH_BATCH.match(name)
    return tuple(int(g) for g in found.groups()) if found else None


def trades_in_batch(trades, name: str):
    """``trades`` narrowed to those settled by the matching batch ``name`` (none if it is not a
    batch's name)."""
    bounds = match_batch_bounds(name)
    if bounds is None:
        return trades.none()
    instrument_id, first, last = bounds
    return trades.filter(instrument_id=instrument_id, seq__gte=first, seq__lte=last)


def fills_for_org(*, organisation, instrument: str | None = None, batch: str | None = None):
    """The organisation's fills, latest first: every trade it was a side of, with ``own_side``
    ("buy" or "sell"), ``own_order_id``, its order that traded, and ``own_fee`` (a trade never
    has one organisation on both sides: self-trades are prevented); ``instrument`` (a code) and
    ``batch`` (a matching batch's name, ``trades_in_batch``) narrow them."""
    mine = Q(buyer=organisation)
    fills = Trade.objects.filter(mine | Q(seller=organisation))
    if instrument:
        fills = fills.filter(instrument__code=instrument)
    if batch:
        fills = trades_in_batch(fills, batch)
    return (
        fills.select_related("instrument")
        .annotate(
            own_side=Case(When(mine, then=Value("buy")), default=Value("sell")),
            own_order_id=Case(When(mine, then=F("buy_order_id")), default=F("sell_order_id")),
            own_fee=Case(When(mine, then=F("buyer_fee")), default=F("seller_fee")),
        )
        .order_by("-executed_at", "-number")
    )


def contracts_for_org(*, organisation):
    """Contracts held, each with ``live_legs``: the legs still delivering units, with their pool
    and provider (one query for all of them)."""
    legs = ContractLeg.objects.filter(units__gt=0).select_related("pool__provider")
    return (
        Contract.objects.for_org(organisation)
        .select_related("instrument", "trade")
        .prefetch_related(Prefetch("legs", queryset=legs, to_attr="live_legs"))
    )


# --- retail (trading standard §5, §6) -----------------------------------------------------------


def listings_for_org(*, organisation):
    """The provider's own listings, every status."""
    return Listing.objects.for_org(organisation).select_related("pool", "resource_class").order_by("-created_at", "-pk")


def listings_open(*, resource_class: str | None = None, region: str | None = None, tier: str | None = None,
                  billing: str | None = None):  # fmt: skip
    """What buyers can reserve now: active listings still available, of connected pools."""
    listings = (
        Listing.objects.open()
        .filter(pool__status=PoolStatus.CONNECTED)
        .select_related("pool__region", "provider", "resource_class")
        .order_by("resource_class_id", "pool__region_id", "pool__tier", "price", "pk")
    )
    if resource_class:
        listings = listings.filter(resource_class_id=resource_class)
    if region:
        listings = listings.filter(pool__region_id=region)
    if tier:
        listings = listings.filter(pool__tier=tier)
    if billing:
        listings = listings.filter(billing=billing)
    return listings


def reservations_for_org(*, organisation, status: str | None = None, listing: int | None = None):
    """The buyer's own reservations."""
    rows = Reservation.objects.for_org(organisation).select_related("listing__resource_class", "pool__provider")
    if status:
        rows = rows.filter(status=status)
    if listing:
        rows = rows.filter(listing_id=listing)
    return rows


def reservations_on_listings(*, organisation):
    """Reservations on the provider's listings (what it must deliver), with their pool."""
    return Reservation.objects.for_provider(organisation).select_related("pool")


@dataclass(frozen=True)
class ReservationCharge:
    """A reservation's per-time charge (§6.1), for the invoice: ``used`` = where billing stops
    (the scheduled end, or the cancellation time if earlier) − start; ``amount`` =
    round_half_up(price × units × billable_minutes / 60, 0.01). A reservation cancelled before
    its start has nothing to bill (0 minutes, 0.00). ``hold_id`` is the hold to capture from."""

    reservation_id: int
    buyer_id: int
    provider_id: int
    listing_id: int
    resource_class: str
    region: str
    tier: str
    billing: str
    status: str
    units: int
    price: Decimal
    minimum_minutes: int
    start: datetime
    end: datetime
    used_seconds: Decimal
    billable_minutes: int
    amount: Decimal
    hold_id: int | None


def reservation_charge(*, reservation_id: int) -> ReservationCharge | None:
    """What a per-time reservation costs (None if there is no such per-time reservation)."""
    r = (
        Reservation.objects.filter(pk=reservation_id, billing=Billing.PER_TIME)
        .select_related("listing", "pool")
        .first()
    )
    return None if r is None else _charge_of(r)


def reservation_charges_starting(*, buyer, start: datetime, end: datetime) -> list[ReservationCharge]:
    """The charges of the buyer's per-time reservations starting in [start, end), by start then
    id, in one query (an invoice has one line each)."""
    rows = (
        reservations_starting(start=start, end=end, billing=Billing.PER_TIME)
        .filter(buyer=buyer)
        .select_related("listing", "pool")
        .order_by("start", "pk")
    )
    return [_charge_of(r) for r in rows]


def _charge_of(r: Reservation) -> ReservationCharge:
    free = r.status == ReservationStatus.CANCELLED and r.actual_end is None  # cancelled before its start
    used = timedelta(0) if free else r.billed_end - r.start
    minutes = 0 if free else billable_minutes(used=used, minimum_minutes=r.minimum_minutes)
    return ReservationCharge(
        reservation_id=r.pk, buyer_id=r.buyer_id, provider_id=r.listing.provider_id, listing_id=r.listing_id,
        resource_class=r.listing.resource_class_id, region=r.pool.region_id, tier=r.pool.tier, billing=r.billing,
        status=r.status, units=r.units, price=r.price, minimum_minutes=r.minimum_minutes, start=r.start,
        end=r.start if free else r.billed_end, used_seconds=Decimal(used // timedelta(microseconds=1)) / 10**6,
        billable_minutes=minutes, amount=time_amount(price=r.price, units=r.units, minutes=minutes),
        hold_id=r.hold_id,
    )  # fmt: skip


def reservations_starting(*, start: datetime, end: datetime, billing: str | None = None):
    """Reservations whose start lies in [start, end), cancelled-before-start ones left out: a
    per-time reservation is charged whole in the billing period in which it starts (§6.1)."""
    rows = Reservation.objects.filter(start__gte=start, start__lt=end).exclude(
        status=ReservationStatus.CANCELLED, actual_end__isnull=True
    )
    return rows.filter(billing=billing) if billing else rows


@dataclass(frozen=True)
class UsageWindow:
    """What a provider's usage record for a reservation must fit (§6.2): the pool, the class's
    meter, at most ``units`` busy, inside [start, end) (end: where billing stops)."""

    reservation_id: int
    buyer_id: int
    pool_id: int
    resource_class: str
    meter: str
    billing: str
    units: int
    price: Decimal
    start: datetime
    end: datetime


def reservation_for_usage(*, provider, reservation_id: int) -> UsageWindow | None:
    """The reservation a provider reports usage against, if it is on one of its listings and was
    not cancelled before its start (None otherwise: the record names something not its own)."""
    r = (
        Reservation.objects.for_provider(provider)
        .filter(pk=reservation_id)
        .exclude(status=ReservationStatus.CANCELLED, actual_end__isnull=True)
        .select_related("listing__resource_class")
        .first()
    )
    if r is None:
        return None
    cls = r.listing.resource_class
    return UsageWindow(r.pk, r.buyer_id, r.pool_id, cls.code, cls.meter, r.billing, r.units, r.price, r.start,
                       r.billed_end)  # fmt: skip


# --- one pool, for its provider's portal ---------------------------------------------------------


def listings_for_pool(*, pool_id: int):
    """A pool's retail listings, every status (the pool is already scoped to its provider)."""
    return Listing.objects.filter(pool_id=pool_id).select_related("resource_class").order_by("-created_at", "-pk")


def asks_for_pool(*, pool_id: int):
    """The pool's units in sell orders still on the book: one allocation per order, with it."""
    return (
        OrderAllocation.objects.filter(pool_id=pool_id, order__status__in=(OrderStatus.PENDING, OrderStatus.OPEN))
        .select_related("order__instrument")
        .order_by("order__instrument__code", "order__price", "order_id")
    )


def fills_for_pool(*, pool_id: int):
    """Trades whose contract binds units of the pool: one leg each, with its contract and trade."""
    return (
        ContractLeg.objects.filter(pool_id=pool_id)
        .select_related("contract__trade", "contract__instrument")
        .order_by("-contract__trade__executed_at", "-contract_id")
    )


# --- supervision: the operator reads every organisation ------------------------------------------


@dataclass(frozen=True)
class Activity:
    open_orders: int = 0
    orders: int = 0
    trades: int = 0
    last_at: datetime | None = None  # the last order placed or trade made


def activity_by_org(*, organisation_ids) -> dict[int, Activity]:
    """Per organisation: orders live on the book, orders and trades ever, and when it last
    placed an order or traded — three grouped queries for any number of organisations (a trade
    between two organisations counts for each)."""
    ids = list(organisation_ids)
    if not ids:
        return {}
    counts: dict[int, list] = {i: [0, 0, 0, None] for i in ids}

    def later(a, b):
        return b if a is None or (b is not None and b > a) else a

    live = (OrderStatus.PENDING, OrderStatus.OPEN)
    orders = (
        Order.objects.filter(organisation_id__in=ids)
        .values("organisation_id")
        .annotate(n=Count("id"), live=Count("id", filter=Q(status__in=live)), last=Max("created_at"))
        .order_by()
    )
    for row in orders:
        c = counts[row["organisation_id"]]
        c[0], c[1], c[3] = row["live"], row["n"], later(c[3], row["last"])
    for side in ("buyer_id", "seller_id"):
        trades = (
            Trade.objects.filter(**{f"{side}__in": ids})
            .values(side)
            .annotate(n=Count("id"), last=Max("executed_at"))
            .order_by()
        )
        for row in trades:
            c = counts[row[side]]
            c[2] += row["n"]
            c[3] = later(c[3], row["last"])
    return {i: Activity(*c) for i, c in counts.items()}


# --- scheduling (trading standard §10) -----------------------------------------------------------


def demands_for_org(*, organisation, status: str | None = None):
    """The organisation's demands, newest first, with the class and residency region read along."""
    from marketplace.models import Demand

    demands = Demand.objects.for_org(organisation).select_related("resource_class", "residency")
    if status:
        demands = demands.filter(status=status)
    return demands.order_by("-created_at", "-pk")


def demands_with_proposals(*, organisation):
    """The organisation's demands (as ``demands_for_org``) with their proposals, newest first, and
    their parts (pool, region, listing, instrument, and what confirmation placed)."""
    from django.db.models import Prefetch

    from marketplace.models import Proposal, ProposalPart

    parts = ProposalPart.objects.select_related("pool", "region", "instrument", "reservation", "order")
    proposals = Proposal.objects.order_by("-created_at", "-pk").prefetch_related(Prefetch("parts", queryset=parts))
    return demands_for_org(organisation=organisation).prefetch_related(Prefetch("proposals", queryset=proposals))


def demand_get(*, organisation, demand_id: int):
    """One of the organisation's demands (None for another's), with its proposals and their parts."""
    return demands_with_proposals(organisation=organisation).filter(pk=demand_id).first()


def demand_proposal(demand):
    """The proposal to show: the open one, else the latest (confirmed, refused, expired…), or None."""
    proposals = list(demand.proposals.all())
    return next((p for p in proposals if p.status == "open"), proposals[0] if proposals else None)
