"""`schedule`: the optimising scheduler (trading standard §10; docs/architecture.md, "Scheduling").

1. Candidate columns (columns.py): every (demand, offer, start) allowed, with its exact cost per unit
   for that start in floats.
2. The LP relaxation (model.lp_solve). On small rounds (≤ FULL_COLUMNS candidates) it holds every
   column. On large ones it starts from a pool of each demand's cheapest columns and adds columns
   of negative reduced cost (column generation) until none is left or the time share is spent; every
   pricing round also gives a Lagrangian lower bound valid for the whole model, and the best of them
   is the reported `lower_bound`.
3. If the LP cannot meet every demand (shortfall), supply is short: policy fairness (fairness.py)
   fixes each demand's target, priority class by priority class, pro rata.
4. The MILP (model.milp_solve) over the pool (the LP's columns, plus each demand's cheapest columns
   at the starts the LP used and the greedy solution's columns, which are also its starting
   incumbent): one start per demand, integer units, relative gap 0.5 % on large rounds (1e-7 on
   small ones).
5. The chosen integer units become Parts whose costs are recomputed exactly (costing.part_make) and
   the whole answer is checked by `violations`; any failure, no solver, or a time-out without an
   incumbent returns the greedy rule's solution (method "greedy", status "fallback: ...")."""

import time
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from marketplace.scheduling.checks import violations
from marketplace.scheduling.costing import ZERO, local_hours, part_make, placement_make
from marketplace.scheduling.greedy import greedy
from marketplace.scheduling.types import Placement, Problem, Solution

FULL_COLUMNS = 20_000  # up to this many candidate columns the model holds them all
LARGE_GAP = 0.005
SMALL_GAP = 1e-7
CG_ROUNDS = 8
ADD_PER_ROUND = 8  # columns a demand may gain per pricing round
RESERVE = 0.25  # seconds kept for reading the answer back and checking it


def _fallback(problem: Problem, *, began: float, why: str, lower_bound: Decimal | None = None) -> Solution:
    solution = greedy(problem)
    return replace(solution, status=f"fallback: {why}", lower_bound=lower_bound, seconds=time.perf_counter() - began)


def schedule(problem: Problem, *, time_limit: float = 2.0, use_solver: bool = True) -> Solution:
    began = time.perf_counter()
    if not use_solver:
        return _fallback(problem, began=began, why="solver not used")
    try:
        from marketplace.scheduling import fairness, model
        from marketplace.scheduling.columns import Market
    except ImportError as exc:  # highspy (or numpy) missing: the documented fallback
        return _fallback(problem, began=began, why=f"solver unavailable ({exc.name})")
    deadline = began + time_limit
    market = Market(problem)
    cands = [market.candidates(i, d) for i, d in enumerate(problem.demands)]
    live = [i for i, c in enumerate(cands) if c is not None]
    nd = len(problem.demands)
    targets = np.zeros(nd)
    penalty = np.zeros(nd)
    for i in live:
        c = cands[i]
        targets[i] = c.target
        penalty[i] = 10.0 * float(np.max(c.ratio())) + 1.0
    total_columns = sum(len(cands[i].cost) for i in live)
    full = total_columns <= FULL_COLUMNS
    picks = {i: (np.arange(len(cands[i].cost)) if full else _initial(cands[i])) for i in live}
    baseline = greedy(problem)
    _add_solution(problem=problem, market=market, cands=cands, picks=picks, solution=baseline)
    bound = -np.inf
    lp = None
    status = "optimal"
    try:
        for _ in range(1 if full else CG_ROUNDS):
            left = deadline - time.perf_counter() - RESERVE
            if left <= 0:
                return _fallback(problem, began=began, why="time_limit")
            pool = model.Pool.make(market=market, cands=cands, picks=picks)
            lp = model.lp_solve(market=market, pool=pool, targets=targets, penalty=penalty, time_limit=left)
            if lp.status != "optimal":
                return _fallback(problem, began=began, why=f"LP {lp.status}")
            if full:
                bound = lp.objective
                break
            lagrange, added = _price(market=market, cands=cands, picks=picks, lp=lp, targets=targets, penalty=penalty)
            bound = max(bound, lagrange)
            if not added:
                bound = max(bound, min(lp.objective, lagrange + 1e-9 * abs(lagrange)))
                break
        assert lp is not None  # noqa: S101 - the loop runs at least once
        short = bool(np.any(lp.z > 1e-6 * np.maximum(targets, 1.0)))
        if not full:
            _augment(cands=cands, picks=picks, pool=pool, lp=lp, targets=targets)
        if short:
            if not full:
                fairness.widen(cands=cands, picks=picks)
            pool = model.Pool.make(market=market, cands=cands, picks=picks)
            targets = fairness.targets(
                problem=problem,
                market=market,
                pool=pool,
                cands=cands,
                requested=targets,
                deadline=deadline - RESERVE,
            )
        else:
            pool = model.Pool.make(market=market, cands=cands, picks=picks)
        left = deadline - time.perf_counter() - RESERVE
        if left <= 0:
            return _fallback(problem, began=began, why="time_limit")
        active = np.zeros(nd, dtype=bool)
        active[live] = True
        milp = model.milp_solve(
            market=market,
            pool=pool,
            targets=targets,
            penalty=penalty,
            active=active,
            time_limit=left,
            gap=SMALL_GAP if full else LARGE_GAP,
        )
    except fairness.TimeUp:
        return _fallback(problem, began=began, why="time_limit")
    if not milp.has_solution:
        why = "time_limit" if "time" in milp.status else f"MILP {milp.status}"
        return _fallback(problem, began=began, why=why)
    status = "time_limit" if "time" in milp.status else ("optimal" if milp.status == "optimal" else milp.status)
    solution = _read(problem=problem, market=market, pool=pool, milp=milp)
    lower = None if short else _decimal_floor(bound)
    solution = Solution(
        placements=solution,
        method="milp",
        status=status,
        total=sum((p.total for p in solution.values()), ZERO),
        lower_bound=lower,
        seconds=0.0,
    )
    broken = violations(problem, solution)
    if broken:
        return _fallback(problem, began=began, why=f"the solver's answer failed the checks: {broken[0]}")
    whole = all(p.placed >= p.requested for p in baseline.placements.values())
    if not short and whole and solution.total > baseline.total:
        # the gap allowed the MILP to stop above the greedy incumbent's value (float rounding): keep the cheaper
        solution = replace(baseline, method="milp", status=status, lower_bound=lower)
    return replace(solution, seconds=time.perf_counter() - began)


def _decimal_floor(value: float) -> Decimal | None:
    if not np.isfinite(value):
        return None
    value -= 1e-7 * max(1.0, abs(value))  # the solver's float tolerance
    return Decimal(repr(value)).quantize(Decimal("0.0001"), rounding=ROUND_FLOOR)


def _initial(c) -> np.ndarray:
    """A demand's starting pool: its cheapest columns by cost per weight until they could hold twice
    the need, and the cheapest columns at the cheapest column's start until they could hold it whole."""
    ratio = c.ratio()
    order = np.argsort(ratio, kind="stable")
    room = np.cumsum((c.cap * c.weight)[order])
    first = order[: max(3, int(np.searchsorted(room, 2 * c.target)) + 1)]
    same = order[c.start[order] == c.start[order[0]]]
    room_same = np.cumsum((c.cap * c.weight)[same])
    second = same[: int(np.searchsorted(room_same, c.target)) + 1]
    return np.union1d(first, second)


def _add_solution(*, problem, market, cands, picks, solution: Solution) -> None:
    """Put a solution's columns into the pool (the greedy answer: the MILP can always do as well)."""
    index = {o.key: i for i, o in enumerate(problem.offers)}
    hour = {problem.horizon_start.timestamp() + 3600 * h: h for h in range(problem.hours)}
    for i, d in enumerate(problem.demands):
        c = cands[i]
        placement = solution.placements[d.key]
        if c is None or not placement.parts:
            continue
        extra = []
        for part in placement.parts:
            o, s = index[part.offer], hour[part.start.timestamp()]
            hit = np.flatnonzero((c.offer == o) & (c.start == s))
            extra.extend(hit.tolist())
        picks[i] = np.union1d(picks[i], np.array(extra, dtype=np.int64))


def _price(*, market, cands, picks, lp, targets, penalty) -> tuple[float, bool]:
    """One pricing round: the Lagrangian bound at the LP's capacity prices, and columns of negative
    reduced cost added to the pool."""
    hours = market.hours
    prefix = np.hstack([np.zeros((market.n, 1)), np.cumsum(lp.cap_price[:, :hours], axis=1)])
    whole_price = lp.cap_price[:, hours]
    bound = -float(np.sum(lp.cap_price[:, :hours] * market.free) + np.sum(whole_price * market.qty))
    added = False
    for i, pick in picks.items():
        c = cands[i]
        lot = market.lot[c.offer]
        busy = np.where(
            market.whole[c.offer], whole_price[c.offer], prefix[c.offer, c.start + c.hours] - prefix[c.offer, c.start]
        )
        priced = c.cost + lot * busy
        ratio = priced / c.weight
        bound += targets[i] * min(penalty[i], float(np.min(ratio)))
        reduced = priced - c.weight * lp.cover_dual[i]
        tol = -1e-9 * (1.0 + np.abs(c.cost))
        neg = np.flatnonzero(reduced < tol)
        if len(neg):
            neg = np.setdiff1d(neg, pick, assume_unique=False)
            if len(neg):
                neg = neg[np.argsort(reduced[neg], kind="stable")[:ADD_PER_ROUND]]
                picks[i] = np.union1d(pick, neg)
                added = True
    return bound, added


def _augment(*, cands, picks, pool, lp, targets) -> None:
    """Before the MILP: at every start the LP used for a demand, the cheapest columns there until
    they could hold the demand whole, so rounding to integers and one start has room."""
    used = lp.x > 1e-9
    starts: dict[int, set[int]] = {}
    for d, s in zip(pool.demand[used].tolist(), pool.start[used].tolist(), strict=True):
        starts.setdefault(d, set()).add(s)
    for i, ss in starts.items():
        c = cands[i]
        extra = [picks[i]]
        for s in ss:
            here = np.flatnonzero(c.start == s)
            here = here[np.argsort(c.ratio()[here], kind="stable")]
            room = np.cumsum((c.cap * c.weight)[here])
            extra.append(here[: int(np.searchsorted(room, 1.5 * targets[i])) + 2])
        picks[i] = np.unique(np.concatenate(extra))


def _read(*, problem: Problem, market, pool, milp) -> dict[str, Placement]:
    local = local_hours(problem=problem)
    offers = {o.key: o for o in problem.offers}
    parts: dict[int, list] = {}
    for j in np.flatnonzero(milp.x > 0):
        d = int(pool.demand[j])
        s = int(pool.start[j])
        if milp.chosen.get(d) != s:
            continue  # units at a start the demand did not choose (zero-cost columns): not placed
        offer = problem.offers[int(pool.offer[j])]
        units = int(milp.x[j]) * int(market.lot[pool.offer[j]])
        parts.setdefault(d, []).append(
            part_make(problem=problem, demand=problem.demands[d], offer=offer, start=s, units=units, local=local)
        )
    out: dict[str, Placement] = {}
    for i, d in enumerate(problem.demands):
        mine = tuple(sorted(parts.get(i, []), key=lambda p: p.offer))
        out[d.key] = placement_make(demand=d, parts=mine, offers=offers)
    return out
