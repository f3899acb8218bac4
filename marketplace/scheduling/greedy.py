"""The greedy rule: the solver's fallback and the benchmark's baseline ("cheapest first").

Demands are taken by priority class (highest first), then by key. Each takes the EARLIEST start at
which it can be placed whole, filling from its eligible offers cheapest first by posted price per
unit-hour (per TFLOPS for an SCU demand; a wholesale ask by its whole-window price spread over the
job's hours), splitting across offers as needed; energy, carbon and time of use are not looked at
(that is what the optimiser adds). A demand that fits nowhere whole takes the start where the most
of it fits. Every constraint is kept (it is checked by the same rules as `violations`), so the
result is always valid; it is not pro rata when supply is short (first come, first served)."""

import math
import time
from decimal import Decimal

from marketplace.scheduling.costing import (
    ZERO,
    local_hours,
    part_make,
    placement_make,
    requested,
    run_reason,
    start_range,
    static_reason,
    unit_free,
    weight,
)
from marketplace.scheduling.types import Demand, Offer, Part, Placement, Problem, Solution


def units_for(*, need: Decimal, w: Decimal, lot: int) -> int:
    """Whole units (a multiple of `lot`) of weight `w` that cover `need`."""
    units = math.ceil(need / w)
    return -(-units // lot) * lot


def naive_rate(*, problem: Problem, demand: Demand, offer: Offer) -> Decimal:
    """The baseline's sort key: posted price per unit-hour of the job, per unit of weight."""
    price = offer.price
    if offer.kind == "wholesale" and offer.window is not None:
        price = price * Decimal(int((offer.window[1] - offer.window[0]).total_seconds()) // 3600) / demand.hours
    return price / weight(demand=demand, offer=offer)


class Usage:
    """Units already taken, per retail offer and hour, and per wholesale ask."""

    def __init__(self, *, problem: Problem) -> None:
        self.hourly = {o.key: [0] * problem.hours for o in problem.offers if o.kind == "retail"}
        self.whole = {o.key: 0 for o in problem.offers if o.kind == "wholesale"}

    def free(self, *, offer: Offer, start: int, hours: int) -> int:
        if offer.kind == "wholesale":
            return unit_free(offer=offer, start=start, hours=hours) - self.whole[offer.key]
        used = self.hourly[offer.key]
        free = offer.free
        return min((free[h] if h < len(free) else 0) - used[h] for h in range(start, start + hours))

    def take(self, *, offer: Offer, start: int, hours: int, units: int) -> None:
        if offer.kind == "wholesale":
            self.whole[offer.key] += units
            return
        used = self.hourly[offer.key]
        for h in range(start, start + hours):
            used[h] += units


def fill(
    *, problem: Problem, demand: Demand, ranked: list[Offer], start: int, usage: Usage, local: list[int], need: Decimal
) -> tuple[list[tuple[Offer, int]], Decimal]:
    """Cheapest-first fill at one start: the (offer, units) taken and the amount they cover."""
    taken: list[tuple[Offer, int]] = []
    covered = ZERO
    for offer in ranked:
        if covered >= need:
            break
        if run_reason(problem=problem, demand=demand, offer=offer, start=start, local=local) is not None:
            continue
        free = usage.free(offer=offer, start=start, hours=demand.hours)
        free -= free % offer.lot
        if free <= 0:
            continue
        w = weight(demand=demand, offer=offer)
        units = min(free, units_for(need=need - covered, w=w, lot=offer.lot))
        taken.append((offer, units))
        covered += w * units
    return taken, covered


def greedy(problem: Problem) -> Solution:
    began = time.perf_counter()
    local = local_hours(problem=problem)
    offers = {o.key: o for o in problem.offers}
    usage = Usage(problem=problem)
    placements: dict[str, Placement] = {}
    for demand in sorted(problem.demands, key=lambda d: (-d.priority, d.key)):
        need = requested(demand=demand)
        eligible = [o for o in problem.offers if static_reason(demand=demand, offer=o) is None]
        ranked = sorted(eligible, key=lambda o: (naive_rate(problem=problem, demand=demand, offer=o), o.key))
        best: tuple[Decimal, int, list[tuple[Offer, int]]] | None = None
        if need > 0 and ranked:
            for start in start_range(problem=problem, demand=demand):
                taken, covered = fill(
                    problem=problem, demand=demand, ranked=ranked, start=start, usage=usage, local=local, need=need
                )
                if taken and (best is None or covered > best[0]):
                    best = (covered, start, taken)
                if covered >= need:
                    break
        parts: tuple[Part, ...] = ()
        if best is not None:
            _, start, taken = best
            for offer, units in taken:
                usage.take(offer=offer, start=start, hours=demand.hours, units=units)
            parts = tuple(
                part_make(problem=problem, demand=demand, offer=offer, start=start, units=units, local=local)
                for offer, units in taken
            )
        placements[demand.key] = placement_make(demand=demand, parts=parts, offers=offers)
    return Solution(
        placements={d.key: placements[d.key] for d in problem.demands},
        method="greedy",
        status="greedy",
        total=sum((p.total for p in placements.values()), ZERO),
        lower_bound=None,
        seconds=time.perf_counter() - began,
    )


def cheapest_single(problem: Problem, demand: Demand) -> Placement | None:
    """The cheapest placement of the whole demand on ONE offer, each offer at its earliest start
    where it holds the whole demand (ignoring other demands); None when no single offer can."""
    local = local_hours(problem=problem)
    offers = {o.key: o for o in problem.offers}
    need = requested(demand=demand)
    best: Placement | None = None
    best_key: tuple[Decimal, object, str] | None = None
    if need <= 0:
        return None
    for offer in problem.offers:
        if static_reason(demand=demand, offer=offer) is not None:
            continue
        units = units_for(need=need, w=weight(demand=demand, offer=offer), lot=offer.lot)
        for start in start_range(problem=problem, demand=demand):
            if run_reason(problem=problem, demand=demand, offer=offer, start=start, local=local) is not None:
                continue
            if unit_free(offer=offer, start=start, hours=demand.hours) < units:
                continue
            part = part_make(problem=problem, demand=demand, offer=offer, start=start, units=units, local=local)
            placement = placement_make(demand=demand, parts=(part,), offers=offers)
            key = (placement.total, part.start, offer.key)
            if best_key is None or key < best_key:
                best, best_key = placement, key
            break
    return best
