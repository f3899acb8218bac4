"""A scheduling round: every waiting demand placed at once by the pure solver, over what the
exchange has free — retail listings (their standing offers' free units per hour, as the
reservations layer keeps them) and wholesale asks resting on the book (per instrument and price
level) — with each region's tariff, carbon and latency and each pool's PUE, green share and
residency. What it proposes is stored per demand; a demand it cannot place is ``unplaceable``."""

import time
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from catalog.capacity import HOUR, hour_floor
from catalog.models import Region, ResourceClass, TouPeriod
from catalog.services import standing_free_by_hour
from marketplace import scheduling
from marketplace.models import (
    Demand,
    DemandStatus,
    Order,
    OrderStatus,
    OrderType,
    PartKind,
    Proposal,
    ProposalPart,
    ProposalStatus,
    SchedulingRound,
    Side,
)
from marketplace.selectors import listings_open

PROPOSAL_LIFETIME = timedelta(minutes=10)
ROUND_LOCK = 0x5C4ED  # the advisory lock one round at a time holds
# Reasons are stored in English and shown in the reader's language ({% translate demand.reason %})
EXPIRED_PROPOSAL = gettext_noop("The proposal was not confirmed in time.")
WINDOW_PASSED = gettext_noop("Its window can no longer hold it.")
NOWHERE = gettext_noop("No offer the exchange has free meets every constraint in the window.")
SHORT = gettext_noop("Supply was short in the last round and other demands came first: it waits for the next.")


def _exact(value: Decimal) -> Decimal:
    """A figure without the trailing zeros of its column (1.2500 → 1.25, 1.5000 → 1.5), so the
    products the solver reports keep few places; whole numbers stay plain (10, not 1E+1)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _tflops(cls: ResourceClass) -> Decimal | None:
    return None if cls.fp16_tflops is None else _exact(cls.fp16_tflops)


def _rtt(region: Region) -> dict[str, int]:
    return {city: int(ms) for city, ms in (region.rtt_ms or {}).items()}


def _start_of(demand: Demand, horizon_start: datetime) -> datetime:
    """The earliest the demand can start now: its earliest start, or the next whole hour."""
    return max(demand.earliest_start, horizon_start)


def _core_demand(demand: Demand, horizon_start: datetime) -> scheduling.Demand:
    return scheduling.Demand(
        key=demand.scheduling_key,
        resource_class=demand.resource_class_id,
        min_scu=demand.min_scu,
        units=demand.units,
        hours=demand.hours,
        earliest_start=_start_of(demand, horizon_start),
        latest_finish=demand.latest_finish,
        city=demand.city or None,
        max_rtt_ms=demand.max_rtt_ms,
        regions=frozenset(demand.regions) if demand.regions else None,
        residency=demand.residency_id,
        carbon_weight=demand.carbon_weight,
        max_price=demand.max_price,
        priority=demand.organisation.scheduling_priority,
        buyer=f"org:{demand.organisation_id}",
    )


def problem_build(*, demands: list[Demand], now: datetime) -> tuple[scheduling.Problem, dict[str, dict]]:
    """The solver's problem for these demands, read from the database at ``now``, and what each
    offer key stands for (listing or instrument and price, pool, region, tier, class)."""
    horizon_start = hour_floor(now) + HOUR  # the next whole hour: a proposal is confirmed before it
    horizon_end = max(d.latest_finish for d in demands)
    hours = max(0, int((horizon_end - horizon_start) / HOUR))
    classes = {c.code: c for c in ResourceClass.objects.all()}
    wanted = {d.resource_class_id for d in demands if d.resource_class_id}
    if any(d.min_scu is not None for d in demands):
        wanted |= {code for code, c in classes.items() if c.fp16_tflops is not None}
    regions = {r.code: r for r in Region.objects.all()}
    offers, meta = [], {}

    listings = list(
        listings_open()
        .filter(resource_class_id__in=wanted, available_from__lt=horizon_end, available_until__gt=horizon_start)
        .order_by("pk")
    )
    free = standing_free_by_hour(prefixes=[x.capacity_prefix for x in listings], start=horizon_start, end=horizon_end)
    for listing in listings:
        row = tuple(free[listing.capacity_prefix])
        if not any(row):
            continue
        pool, region, cls = listing.pool, regions[listing.pool.region_id], classes[listing.resource_class_id]
        key = f"listing:{listing.pk}"
        offers.append(
            scheduling.Offer(
                key=key, kind="retail", pool=f"pool:{pool.pk}", region=region.code, tier=pool.tier,
                resource_class=cls.code, tflops=_tflops(cls), price=listing.price, billing=listing.billing,
                minimum_minutes=listing.minimum_minutes, window=None, free=row, lot=1, rtt_ms=_rtt(region),
                residency=pool.data_residency, power_kw=_exact(cls.unit_power_kw), pue=_exact(pool.pue),
                power_price=_exact(region.flat_price_per_kwh), tou=tuple(region.tou_by_local_hour),
                carbon_kg_per_kwh=_exact(region.carbon_kg_per_kwh), green_share=_exact(pool.green_power_share),
                seller=f"org:{listing.provider_id}",
            )
        )  # fmt: skip
        meta[key] = {"kind": PartKind.RETAIL, "listing": listing, "instrument": None, "pool": pool,
                     "region": region.code, "tier": pool.tier, "resource_class": cls.code, "price": listing.price,
                     "billing": listing.billing}  # fmt: skip

    asks = (
        Order.objects.filter(
            side=Side.SELL, type=OrderType.LIMIT, status__in=(OrderStatus.PENDING, OrderStatus.OPEN),
            cancel_requested_at__isnull=True, instrument__resource_class_id__in=wanted,
            instrument__window_start__gt=now, instrument__window_start__lt=horizon_end,
            instrument__window_end__gt=horizon_start,
        )
        .filter(Q(expire_at__isnull=True) | Q(expire_at__gt=now))
        .values("instrument_id", "price")
        .annotate(qty=Sum(F("qty") - F("filled_qty")))
        .order_by("instrument_id", "price")
    )  # fmt: skip
    instruments = {i.pk: i for i in _instruments({a["instrument_id"] for a in asks})}
    for ask in asks:
        instrument = instruments[ask["instrument_id"]]
        if ask["qty"] <= 0:
            continue
        region, cls = regions[instrument.region_id], classes[instrument.resource_class_id]
        row = tuple(
            ask["qty"] if instrument.window_start <= horizon_start + i * HOUR < instrument.window_end else 0
            for i in range(hours)
        )
        key = f"ask:{instrument.pk}:{ask['price']}"
        offers.append(
            scheduling.Offer(
                key=key, kind="wholesale", pool=f"instrument:{instrument.code}", region=region.code,
                tier=instrument.tier, resource_class=cls.code, tflops=_tflops(cls), price=ask["price"],
                billing="per_time", minimum_minutes=0, window=(instrument.window_start, instrument.window_end),
                free=row, lot=instrument.lot, rtt_ms=_rtt(region),
                # the delivering pools are chosen at the trade: no residency guarantee, no green
                # share counted, the region's typical PUE
                residency=False, power_kw=_exact(cls.unit_power_kw), pue=_exact(region.pue),
                power_price=_exact(region.flat_price_per_kwh), tou=tuple(region.tou_by_local_hour),
                carbon_kg_per_kwh=_exact(region.carbon_kg_per_kwh), green_share=Decimal(0),
            )
        )  # fmt: skip
        meta[key] = {"kind": PartKind.WHOLESALE, "listing": None, "instrument": instrument, "pool": None,
                     "region": region.code, "tier": instrument.tier, "resource_class": cls.code,
                     "price": ask["price"], "billing": "per_time"}  # fmt: skip

    problem = scheduling.Problem(
        horizon_start=horizon_start,
        hours=hours,
        offers=tuple(offers),
        demands=tuple(_core_demand(d, horizon_start) for d in demands),
        tou_multipliers={t.kind: _exact(t.multiplier) for t in TouPeriod.objects.all()},
    )
    return problem, meta


def _instruments(ids):
    from marketplace.models import Instrument

    return Instrument.objects.filter(pk__in=ids)


def _lapse(*, now: datetime) -> None:
    """Open proposals past their expiry lapse; their demands wait for this round again. The
    demands are locked first, then their proposals (as confirmation locks them)."""
    demand_ids = sorted(
        Proposal.objects.filter(status=ProposalStatus.OPEN, expires_at__lte=now).values_list("demand_id", flat=True)
    )
    demands = Demand.objects.select_for_update(of=("self",)).filter(pk__in=demand_ids).order_by("pk")
    for demand in demands:
        proposal = (
            Proposal.objects.select_for_update(of=("self",))
            .filter(demand=demand, status=ProposalStatus.OPEN, expires_at__lte=now)
            .first()
        )
        if proposal is None:  # confirmed or cancelled meanwhile
            continue
        proposal.status, proposal.decided_at, proposal.reason = ProposalStatus.EXPIRED, now, EXPIRED_PROPOSAL
        proposal.save(update_fields=["status", "decided_at", "reason"])
        if demand.status == DemandStatus.PROPOSED:
            demand.transition_to(DemandStatus.SUBMITTED, at=now, reason=EXPIRED_PROPOSAL)
            _save_demand(demand)


def _save_demand(demand: Demand) -> None:
    demand.save(update_fields=["status", "status_changed_at", "status_changed_by", "reason"])


def scheduling_round(*, now: datetime | None = None, time_limit: float | None = None,
                     use_solver: bool = True) -> SchedulingRound | None:  # fmt: skip
    """Place every waiting demand (``submitted``) at once and store what the solver proposes; a
    demand whose window can no longer hold it expires, one that no offer could hold even alone is
    ``unplaceable``, one that got nothing because others came first (short supply) waits for the
    next round. One round at a time (an advisory lock); None when nothing waits."""
    from django.conf import settings

    now = now or timezone.now()
    limit = settings.SCHEDULING_TIME_LIMIT if time_limit is None else time_limit
    with transaction.atomic(durable=True):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROUND_LOCK])
        _lapse(now=now)
        waiting = list(
            Demand.objects.select_for_update(of=("self",))
            .filter(status=DemandStatus.SUBMITTED)
            .select_related("organisation")
            .order_by("pk")
        )
        horizon_start = hour_floor(now) + HOUR
        live = []
        for demand in waiting:
            if _start_of(demand, horizon_start) + demand.hours * HOUR > demand.latest_finish:
                demand.transition_to(DemandStatus.EXPIRED, at=now, reason=WINDOW_PASSED)
                _save_demand(demand)
            else:
                live.append(demand)
        if not live:
            return None
        problem, meta = problem_build(demands=live, now=now)
        started = time.monotonic()
        solution = scheduling.schedule(problem, time_limit=limit, use_solver=use_solver)
        seconds = Decimal(str(round(solution.seconds, 3)))
        placed = sum(1 for d in live if solution.placements[d.scheduling_key].parts)
        record = SchedulingRound.objects.create(
            started_at=now, horizon_start=problem.horizon_start, horizon_hours=problem.hours, demands=len(live),
            offers=len(problem.offers), placed=placed, method=solution.method, solver_status=solution.status[:200],
            seconds=seconds, total=solution.total, lower_bound=solution.lower_bound,
        )  # fmt: skip
        by_key = {d.key: d for d in problem.demands}
        for demand in live:
            placement = solution.placements[demand.scheduling_key]
            single = scheduling.cheapest_single(problem, by_key[demand.scheduling_key])
            if not placement.parts:
                if single is None:  # nothing could hold it even alone
                    demand.transition_to(DemandStatus.UNPLACEABLE, at=now, reason=NOWHERE)
                    _save_demand(demand)
                else:  # others of the round (a higher priority class, pro rata) took what it could use
                    demand.reason = SHORT
                    demand.save(update_fields=["reason"])
                continue
            _propose(demand=demand, record=record, solution=solution, placement=placement, single=single, meta=meta,
                     now=now)  # fmt: skip
        record.seconds = max(seconds, Decimal(str(round(time.monotonic() - started, 3))))
        record.save(update_fields=["seconds"])
        return record


def _propose(*, demand, record, solution, placement, single, meta, now) -> Proposal:
    proposal = Proposal.objects.create(
        demand=demand, round=record, method=solution.method, solver_status=solution.status[:200],
        created_at=now, expires_at=now + PROPOSAL_LIFETIME, requested=placement.requested, placed=placement.placed,
        price_cost=placement.price_cost, energy_cost=placement.energy_cost, carbon_kg=placement.carbon_kg,
        carbon_cost=placement.carbon_cost, total=placement.total,
        single_offer=single.parts[0].offer if single and single.parts else "",
        single_price_cost=single.price_cost if single else None,
        single_energy_cost=single.energy_cost if single else None,
        single_carbon_kg=single.carbon_kg if single else None,
        single_carbon_cost=single.carbon_cost if single else None,
        single_total=single.total if single else None,
        single_rtt_ms=single.parts[0].rtt_ms if single and single.parts else None,
    )  # fmt: skip
    ProposalPart.objects.bulk_create(
        ProposalPart(
            proposal=proposal, offer=part.offer, kind=meta[part.offer]["kind"], listing=meta[part.offer]["listing"],
            instrument=meta[part.offer]["instrument"], pool=meta[part.offer]["pool"],
            region_id=meta[part.offer]["region"], tier=meta[part.offer]["tier"],
            resource_class_id=meta[part.offer]["resource_class"], price=meta[part.offer]["price"],
            billing=meta[part.offer]["billing"], units=part.units, start=part.start, end=part.end,
            price_cost=part.price_cost, energy_cost=part.energy_cost, carbon_kg=part.carbon_kg,
            carbon_cost=part.carbon_cost, rtt_ms=part.rtt_ms,
        )
        for part in placement.parts
    )  # fmt: skip
    demand.transition_to(DemandStatus.PROPOSED, at=now)
    _save_demand(demand)
    return proposal
