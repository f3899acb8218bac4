"""Exact rules shared by the solver, the greedy rule and the checker: the hour grid, who may use
what (eligibility), and what a part costs (trading standard §6, §7, §10). Decimal throughout."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from marketplace.scheduling.types import Demand, Offer, Part, Placement, Problem

LOCAL = timezone(timedelta(hours=8))  # Asia/Shanghai keeps no daylight saving: a fixed offset is exact
HOUR = timedelta(hours=1)
ZERO = Decimal(0)


def hour_index(*, problem: Problem, at: datetime) -> int | None:
    """The horizon hour `at` falls on, or None when it is not on the hour grid."""
    seconds = (at - problem.horizon_start).total_seconds()
    if seconds % 3600:
        return None
    return int(seconds // 3600)


def local_hours(*, problem: Problem) -> list[int]:
    """The local (UTC+8) hour of day of each horizon hour."""
    first = problem.horizon_start.astimezone(LOCAL).hour
    return [(first + i) % 24 for i in range(problem.hours)]


def weight(*, demand: Demand, offer: Offer) -> Decimal:
    """How much one unit of `offer` counts towards `demand`: 1, or its TFLOPS for an SCU demand."""
    if demand.resource_class is None:
        return offer.tflops or ZERO
    return Decimal(1)


def requested(*, demand: Demand) -> Decimal:
    if demand.resource_class is None:
        return demand.min_scu or ZERO
    return Decimal(demand.units)


def start_range(*, problem: Problem, demand: Demand) -> range:
    """The horizon hours a demand may start at (its window clipped to the horizon)."""
    first = hour_index(problem=problem, at=demand.earliest_start)
    last_end = hour_index(problem=problem, at=demand.latest_finish)
    if first is None or last_end is None or demand.hours <= 0:
        return range(0)
    first = max(first, 0)
    last = min(last_end, problem.hours) - demand.hours
    return range(first, last + 1)


def window_hours(*, problem: Problem, offer: Offer) -> tuple[int, int] | None:
    """A wholesale offer's window as horizon hours [start, end) (may reach past the horizon)."""
    if offer.window is None:
        return None
    a = hour_index(problem=problem, at=offer.window[0])
    b = hour_index(problem=problem, at=offer.window[1])
    if a is None or b is None:
        return None
    return a, b


def static_reason(*, demand: Demand, offer: Offer) -> str | None:
    """Why `offer` can never serve `demand` (whatever the start), or None."""
    if demand.resource_class is None:
        if not offer.tflops or offer.tflops <= 0:
            return "class: not a GPU class (SCU demand)"
    elif offer.resource_class != demand.resource_class:
        return f"class: {offer.resource_class} is not {demand.resource_class}"
    if demand.city is not None and demand.max_rtt_ms is not None:
        rtt = offer.rtt_ms.get(demand.city)
        if rtt is None or rtt > demand.max_rtt_ms:
            return f"latency: {rtt} ms to {demand.city} over the ceiling {demand.max_rtt_ms} ms"
    if demand.regions is not None and offer.region not in demand.regions:
        return f"regions: {offer.region} is not allowed"
    if demand.residency is not None and (offer.region != demand.residency or not offer.residency):
        return f"residency: {offer.pool} in {offer.region} does not keep data in {demand.residency}"
    if demand.max_price is not None and offer.billing != "per_volume" and offer.price > demand.max_price:
        return f"max price: {offer.price} over {demand.max_price}"
    if offer.kind == "retail" and offer.billing == "per_time" and demand.hours * 60 < offer.minimum_minutes:
        return f"minimum: {demand.hours} h under the listing's {offer.minimum_minutes} minutes"
    if offer.kind == "wholesale" and offer.window is None:
        return "wholesale offer without a window"
    if demand.buyer and offer.seller == demand.buyer:
        return f"own offer: {offer.key} is sold by the buyer itself"
    return None


def run_reason(*, problem: Problem, demand: Demand, offer: Offer, start: int, local: list[int]) -> str | None:
    """Why `offer` cannot serve `demand` started at horizon hour `start` (static rules included)."""
    reason = static_reason(demand=demand, offer=offer)
    if reason is not None:
        return reason
    if start < 0 or start + demand.hours > problem.hours:
        return "window: outside the horizon"
    if offer.kind == "wholesale":
        window = window_hours(problem=problem, offer=offer)
        if window is None or start < window[0] or start + demand.hours > window[1]:
            return "window: the run is not inside the instrument's window"
    if demand.max_price is not None and offer.billing == "per_volume":
        top = max(problem.tou_multipliers[offer.tou[local[h]]] for h in range(start, start + demand.hours))
        if offer.price * top > demand.max_price:
            return f"max price: {offer.price} × {top} over {demand.max_price}"
    return None


def unit_free(*, offer: Offer, start: int, hours: int) -> int:
    """Units of `offer` free at every hour of [start, start + hours): the ask's quantity for wholesale
    (whole windows are bought, so one pool of `qty` units serves every part)."""
    if offer.kind == "wholesale":
        return max(offer.free, default=0)
    run = offer.free[start : start + hours]
    return min(run) if len(run) == hours else 0


def part_make(*, problem: Problem, demand: Demand, offer: Offer, start: int, units: int, local: list[int]) -> Part:
    """One part with its exact costs (no rounding)."""
    mult = problem.tou_multipliers
    hours = range(start, start + demand.hours)
    u = Decimal(units)
    if offer.kind == "wholesale":
        w0, w1 = offer.window  # type: ignore[misc]
        price_cost = offer.price * u * Decimal(int((w1 - w0).total_seconds())) / 3600
    elif offer.billing == "per_volume":
        price_cost = offer.price * u * sum((mult[offer.tou[local[h]]] for h in hours), ZERO)
    else:
        price_cost = offer.price * u * demand.hours
    kw = u * offer.power_kw * offer.pue
    energy_cost = kw * offer.power_price * sum((mult[offer.tou[local[h]]] for h in hours), ZERO)
    carbon_kg = kw * offer.carbon_kg_per_kwh * (1 - offer.green_share) * demand.hours
    at = problem.horizon_start + start * HOUR
    return Part(
        offer=offer.key,
        units=units,
        start=at,
        end=at + demand.hours * HOUR,
        price_cost=price_cost,
        energy_cost=energy_cost,
        carbon_kg=carbon_kg,
        carbon_cost=demand.carbon_weight * carbon_kg,
        rtt_ms=offer.rtt_ms.get(demand.city) if demand.city is not None else None,
    )


def placement_make(*, demand: Demand, parts: tuple[Part, ...], offers: dict[str, Offer]) -> Placement:
    price = sum((p.price_cost for p in parts), ZERO)
    energy = sum((p.energy_cost for p in parts), ZERO)
    kg = sum((p.carbon_kg for p in parts), ZERO)
    carbon = sum((p.carbon_cost for p in parts), ZERO)
    placed = sum((weight(demand=demand, offer=offers[p.offer]) * p.units for p in parts), ZERO)
    return Placement(
        demand=demand.key,
        parts=parts,
        requested=requested(demand=demand),
        placed=placed,
        price_cost=price,
        energy_cost=energy,
        carbon_kg=kg,
        carbon_cost=carbon,
        total=price + energy + carbon,
    )
