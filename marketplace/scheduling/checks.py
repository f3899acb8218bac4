"""`violations`: every broken constraint of a solution, recomputed from the problem with the exact
rules (costing.py), as readable strings. The tests and the benchmark hold every method to it."""

from collections import defaultdict

from marketplace.scheduling.costing import (
    ZERO,
    hour_index,
    local_hours,
    part_make,
    requested,
    run_reason,
    weight,
)
from marketplace.scheduling.types import Problem, Solution


def violations(problem: Problem, solution: Solution) -> list[str]:
    local = local_hours(problem=problem)
    offers = {o.key: o for o in problem.offers}
    demands = {d.key: d for d in problem.demands}
    found: list[str] = []
    hourly: dict[str, list[int]] = defaultdict(lambda: [0] * problem.hours)
    whole: dict[str, int] = defaultdict(int)
    total = ZERO
    for key in demands.keys() - solution.placements.keys():
        found.append(f"{key}: missing from the solution")
    for key, placement in solution.placements.items():
        demand = demands.get(key)
        if demand is None or placement.demand != key:
            found.append(f"{key}: not a demand of the problem")
            continue
        total += placement.total
        if placement.requested != requested(demand=demand):
            found.append(f"{key}: requested {placement.requested}, the demand asks {requested(demand=demand)}")
        starts = {p.start for p in placement.parts}
        if len(starts) > 1:
            found.append(f"{key}: parts start at different hours {sorted(starts)}")
        placed = ZERO
        sums = {"price": ZERO, "energy": ZERO, "kg": ZERO, "carbon": ZERO}
        for part in placement.parts:
            offer = offers.get(part.offer)
            where = f"{key} on {part.offer}"
            if offer is None:
                found.append(f"{where}: unknown offer")
                continue
            start = hour_index(problem=problem, at=part.start)
            if start is None:
                found.append(f"{where}: start {part.start} is not on the hour grid")
                continue
            if part.units <= 0:
                found.append(f"{where}: {part.units} units")
                continue
            if part.start < demand.earliest_start or part.start + (part.end - part.start) > demand.latest_finish:
                found.append(f"{where}: window: runs {part.start}–{part.end} outside the demand's window")
            if (part.end - part.start).total_seconds() != demand.hours * 3600:
                found.append(f"{where}: runs {part.end - part.start}, the demand needs {demand.hours} h")
            reason = run_reason(problem=problem, demand=demand, offer=offer, start=start, local=local)
            if reason is not None:
                found.append(f"{where}: {reason}")
                continue
            if part.units % offer.lot:
                found.append(f"{where}: {part.units} units is not a multiple of the lot {offer.lot}")
            if offer.kind == "wholesale":
                whole[offer.key] += part.units
            else:
                used = hourly[offer.key]
                for h in range(start, start + demand.hours):
                    used[h] += part.units
            exact = part_make(problem=problem, demand=demand, offer=offer, start=start, units=part.units, local=local)
            if exact != part:
                found.append(f"{where}: costs or times differ from the tariff's: {part} != {exact}")
            placed += weight(demand=demand, offer=offer) * part.units
            sums["price"] += part.price_cost
            sums["energy"] += part.energy_cost
            sums["kg"] += part.carbon_kg
            sums["carbon"] += part.carbon_cost
        if placed != placement.placed:
            found.append(f"{key}: placed {placement.placed}, the parts hold {placed}")
        shown = (placement.price_cost, placement.energy_cost, placement.carbon_kg, placement.carbon_cost)
        if shown != (sums["price"], sums["energy"], sums["kg"], sums["carbon"]):
            found.append(f"{key}: the placement's sums differ from its parts'")
        if placement.total != placement.price_cost + placement.energy_cost + placement.carbon_cost:
            found.append(f"{key}: total is not price + energy + carbon")
    for key, used in hourly.items():
        free = offers[key].free
        for h, units in enumerate(used):
            room = free[h] if h < len(free) else 0  # hours past the offer's figures have nothing free
            if units > room:
                found.append(f"{key}: capacity: {units} units at hour {h}, {room} free")
    for key, units in whole.items():
        qty = max(offers[key].free, default=0)
        if units > qty:
            found.append(f"{key}: capacity: {units} units bought, the ask has {qty}")
    if total != solution.total:
        found.append(f"solution total {solution.total} is not the sum of its placements {total}")
    return found


__all__ = ["violations"]
