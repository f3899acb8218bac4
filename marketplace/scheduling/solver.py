"""The optimising scheduler behind `schedule` (trading standard §10; docs/architecture.md, "Scheduling").

1. Candidate columns (columns.py): every (demand, offer, start) allowed, with its cost per unit for
   that start, in floats.
2. The LP relaxation (model.lp_solve). A small round (≤ FULL_COLUMNS candidates) holds every column
   and its LP optimum is the lower bound. A large one starts from each demand's cheapest columns and
   adds columns of negative reduced cost (column generation) until none is left or the LP is within
   0.1 % of the bound; each pricing round gives a Lagrangian lower bound valid for the whole model,
   and the best of them is the reported `lower_bound`.
3. If the LP cannot meet every demand, supply is short: policy fairness (fairness.py) fixes each
   demand's target, priority class by priority class, pro rata.
4. Integers: the LP is rounded (rounding.py: each demand at the start carrying most of its LP
   coverage, units rounded down, the rest filled cheapest first with the capacity left). Then the
   MILP (model.milp_solve) starts from that incumbent: on a small or short round over every start
   (one chosen per demand, relative gap 1e-9), on a large one over the chosen starts (gap 0.5 %),
   with the time left. The better of the MILP's answer and the rounding is kept.
5. Units become Parts whose costs are recomputed exactly (costing.part_make) and the answer is
   checked by `violations`. No solver, an LP that fails or runs out of time, or an answer that fails
   the checks: the greedy rule's solution (method "greedy", status "fallback: ...").

Status: "optimal" when the MILP proved its gap (or, on a large round, the answer is within 0.5 % of
the lower bound); "time_limit" when the MILP stopped at the limit with an incumbent (which is
used); "feasible" otherwise."""

import time
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from marketplace.scheduling import fairness, model, rounding
from marketplace.scheduling.checks import violations
from marketplace.scheduling.columns import TIE, Market
from marketplace.scheduling.costing import ZERO, local_hours, part_make, placement_make
from marketplace.scheduling.greedy import greedy
from marketplace.scheduling.types import Placement, Problem, Solution

FULL_COLUMNS = 20_000  # up to this many candidate columns the model holds them all
LARGE_GAP = 0.005
SMALL_GAP = 1e-9
CG_ROUNDS = 8
CG_STOP = 1e-3  # stop generating columns when the LP is within this of the bound
ADD_PER_ROUND = 8  # columns a demand may gain per pricing round
POOL_ROOM = 4.0  # a demand's first columns: cheapest until they could hold this many times its need
POOL_MIN = 10  # ... and at least this many
RESERVE = 0.15  # seconds kept for reading the answer back and checking it


def fallback(problem: Problem, *, began: float, why: str) -> Solution:
    """The greedy rule's solution, marked as the fallback and why."""
    solution = greedy(problem)
    return replace(solution, status=f"fallback: {why}", seconds=time.perf_counter() - began)


def solve(problem: Problem, *, time_limit: float, began: float) -> Solution:
    """Steps 1-5 above (`schedule` in entry.py checks the solver can be imported first)."""
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
    if not live:  # nothing can be placed anywhere: every placement empty
        placements = _read(problem=problem, market=market, cands=cands, assignment={})
        return Solution(
            placements=placements,
            method="milp",
            status="optimal",
            total=ZERO,
            lower_bound=ZERO,
            seconds=time.perf_counter() - began,
        )
    full = sum(len(cands[i].cost) for i in live) <= FULL_COLUMNS
    picks = {i: (np.arange(len(cands[i].cost)) if full else _initial(cands[i])) for i in live}
    flat = Flat(market=market, cands=cands, live=live)
    inpool = flat.mark(picks)
    order = sorted(live, key=lambda i: (-problem.demands[i].priority, problem.demands[i].key))
    bound = -np.inf
    try:
        for _ in range(1 if full else CG_ROUNDS):
            left = deadline - time.perf_counter() - RESERVE
            if left <= 0:
                return fallback(problem, began=began, why="time_limit")
            picks = flat.picks(inpool)
            pool = model.Pool.make(market=market, cands=cands, picks=picks)
            lp = model.lp_solve(market=market, pool=pool, targets=targets, penalty=penalty, time_limit=left)
            if lp.status != "optimal":
                why = "time_limit" if "time" in lp.status else f"LP {lp.status}"
                return fallback(problem, began=began, why=why)
            if full:
                bound = lp.objective
                break
            lagrange, added = _price(market=market, flat=flat, inpool=inpool, lp=lp, targets=targets, penalty=penalty)
            bound = max(bound, lagrange)
            if not added or lp.objective - bound <= CG_STOP * abs(lp.objective):
                break
        short = bool(np.any(lp.z > 1e-6 * np.maximum(targets, 1.0)))
        requested = targets
        if short:
            targets = _fair(
                problem=problem,
                market=market,
                cands=cands,
                picks=picks,
                full=full,
                requested=requested,
                deadline=deadline,
            )
        work = dict(
            problem=problem,
            market=market,
            cands=cands,
            picks=picks,
            lp_pool=pool,
            lp=lp,
            penalty=penalty,
            order=order,
            live=live,
            bound=bound,
            deadline=deadline,
        )
        assignment, status = _integers(**work, targets=targets, exact=full or short)
        if not short and _short(cands, assignment, targets):
            # the LP could split a demand over several starts; with one start it cannot be met: short supply
            short = True
            targets = _fair(
                problem=problem,
                market=market,
                cands=cands,
                picks=picks,
                full=full,
                requested=requested,
                deadline=deadline,
            )
            assignment, status = _integers(**work, targets=targets, exact=True)
    except fairness.TimeUp:
        return fallback(problem, began=began, why="time_limit")
    placements = _read(problem=problem, market=market, cands=cands, assignment=assignment)
    total = sum((p.total for p in placements.values()), ZERO)
    lower = None if short else _decimal_floor(bound, hours=problem.hours)
    if status == "feasible" and lower is not None and total <= lower * Decimal(1 + LARGE_GAP):
        status = "optimal"
    solution = Solution(
        placements=placements, method="milp", status=status, total=total, lower_bound=lower, seconds=0.0
    )
    broken = violations(problem, solution)
    if broken:
        return fallback(problem, began=began, why=f"the solver's answer failed the checks: {broken[0]}")
    return replace(solution, seconds=time.perf_counter() - began)


def _fair(*, problem, market, cands, picks, full, requested, deadline) -> np.ndarray:
    if not full:
        fairness.widen(cands=cands, picks=picks)
    wide = model.Pool.make(market=market, cands=cands, picks=picks)
    return fairness.targets(
        problem=problem, market=market, pool=wide, cands=cands, requested=requested, deadline=deadline - RESERVE
    )


def _short(cands, assignment, targets) -> bool:
    for d, c in enumerate(cands):
        if c is None or targets[d] <= 0:
            continue
        taken = assignment.get(d, (0, []))[1]
        if sum(lots * c.weight[i] for i, lots in taken) < targets[d] - 1e-9:
            return True
    return False


def _integers(
    *, problem, market, cands, picks, lp_pool, lp, penalty, order, live, bound, deadline, targets, exact
) -> tuple[dict, str]:
    """Step 4: the LP rounded, then the MILP from that incumbent; the cheaper answer and its status."""
    nd = len(problem.demands)
    rounded = rounding.round_lp(
        market=market,
        cands=cands,
        pick_index=lp_pool.pick,
        pick_demand=lp_pool.demand,
        x=lp.x,
        targets=targets,
        order=order,
    )
    for d, (s, taken) in rounded.items():
        extra = np.array([i for i, _ in taken], dtype=np.int64)
        if not exact:  # the chosen start's cheapest columns, so the MILP has room to improve
            here = np.flatnonzero(cands[d].start == s)
            extra = np.union1d(extra, here[np.argsort(cands[d].ratio()[here], kind="stable")[:POOL_MIN]])
        picks[d] = np.union1d(picks[d], extra)
    pool = model.Pool.make(market=market, cands=cands, picks=picks)
    if not exact:
        # the LP again with each demand held at its start, rounded again: closer to the bound
        pool = pool.only_starts({d: s for d, (s, _) in rounded.items()})
        left = deadline - time.perf_counter() - RESERVE
        if left > 0.01:
            fixed = model.lp_solve(market=market, pool=pool, targets=targets, penalty=penalty, time_limit=left)
            if fixed.status == "optimal":
                again = rounding.round_lp(
                    market=market,
                    cands=cands,
                    pick_index=pool.pick,
                    pick_demand=pool.demand,
                    x=fixed.x,
                    targets=targets,
                    order=order,
                )
                if _cost(cands, again, targets, penalty) < _cost(cands, rounded, targets, penalty):
                    rounded = again
    assignment, status = rounded, "feasible"
    left = deadline - time.perf_counter() - RESERVE
    # a large round whose rounding is already within the gap of the bound needs no MILP
    close = not exact and _cost(cands, rounded, targets, penalty) <= bound * (1 + LARGE_GAP)
    if left > 0.01 and not close:
        active = np.zeros(nd, dtype=bool)
        active[[d for d in live if targets[d] > 0]] = True
        x0 = _lots(pool=pool, assignment=rounded)
        sub = pool.only(active)
        milp = model.milp_solve(
            market=market,
            pool=sub,
            targets=targets,
            penalty=penalty,
            active=active,
            time_limit=left,
            gap=SMALL_GAP if exact else LARGE_GAP,
            initial=(x0[active[pool.demand]], {d: s for d, (s, _) in rounded.items()}),
        )
        if milp.has_solution:
            mine = _assignment(pool=sub, milp=milp)
            if _cost(cands, mine, targets, penalty) <= _cost(cands, rounded, targets, penalty) + 1e-9:
                assignment = mine
                status = "time_limit" if "time" in milp.status else milp.status
    return assignment, status


def _decimal_floor(value: float, *, hours: int) -> Decimal | None:
    """The bound as a Decimal, lowered by what the floats may have added: the solver's tolerance and
    the nudge that breaks ties towards earlier starts (columns.TIE per hour)."""
    if not np.isfinite(value):
        return None
    value -= (TIE * hours + 1e-7) * max(1.0, abs(value))
    return Decimal(repr(float(value))).quantize(Decimal("0.0001"), rounding=ROUND_FLOOR)


def _initial(c) -> np.ndarray:
    """A demand's first columns: its cheapest by cost per weight until they could hold POOL_ROOM
    times its need, at least POOL_MIN."""
    order = np.argsort(c.ratio(), kind="stable")
    room = np.cumsum((c.cap * c.weight)[order])
    return np.sort(order[: max(POOL_MIN, int(np.searchsorted(room, POOL_ROOM * c.target)) + 1)])


class Flat:
    """Every demand's candidates in one set of arrays (demand-major), for whole-array pricing."""

    def __init__(self, *, market, cands, live: list[int]) -> None:
        self.live = live
        sizes = [len(cands[i].cost) for i in live]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.demand = np.repeat(np.array(live, dtype=np.int64), sizes)
        self.offer = np.concatenate([cands[i].offer for i in live])
        self.start = np.concatenate([cands[i].start for i in live])
        self.end = self.start + np.repeat(np.array([cands[i].hours for i in live], dtype=np.int64), sizes)
        self.cost = np.concatenate([cands[i].cost for i in live])
        self.weight = np.concatenate([cands[i].weight for i in live])
        self.lot = market.lot[self.offer]
        self.whole = market.whole[self.offer]

    def picks(self, inpool: np.ndarray) -> dict[int, np.ndarray]:
        return {d: np.flatnonzero(inpool[self.offsets[k] : self.offsets[k + 1]]) for k, d in enumerate(self.live)}

    def mark(self, picks: dict[int, np.ndarray]) -> np.ndarray:
        inpool = np.zeros(len(self.cost), dtype=bool)
        for k, d in enumerate(self.live):
            inpool[self.offsets[k] + picks[d]] = True
        return inpool


def _price(*, market, flat: Flat, inpool: np.ndarray, lp, targets, penalty) -> tuple[float, bool]:
    """One pricing round over every candidate at once: the Lagrangian bound at the LP's capacity
    prices ν ≥ 0, Σ_d target_d · min(penalty_d, min_j (cost_j + lot_j · Σ_run ν) / weight_j) − Σ ν · capacity,
    and up to ADD_PER_ROUND columns of negative reduced cost per demand added to the pool (`inpool`)."""
    hours = market.hours
    prefix = np.hstack([np.zeros((market.n, 1)), np.cumsum(lp.cap_price[:, :hours], axis=1)])
    whole_price = lp.cap_price[:, hours]
    bound = -float(np.sum(lp.cap_price[:, :hours] * market.free) + np.sum(whole_price * market.qty))
    busy = np.where(
        flat.whole,
        whole_price[flat.offer],
        prefix[flat.offer, np.minimum(flat.end, hours)] - prefix[flat.offer, flat.start],
    )
    priced = flat.cost + flat.lot * busy
    best = np.minimum.reduceat(priced / flat.weight, flat.offsets[:-1])
    live = np.array(flat.live, dtype=np.int64)
    bound += float(np.sum(targets[live] * np.minimum(penalty[live], best)))
    reduced = priced - flat.weight * lp.cover_dual[flat.demand]
    neg = np.flatnonzero((reduced < -1e-9 * (1.0 + np.abs(flat.cost))) & ~inpool)
    if not len(neg):
        return bound, False
    order = np.lexsort((reduced[neg], flat.demand[neg]))
    neg = neg[order]
    group = flat.demand[neg]
    first = np.r_[True, group[1:] != group[:-1]]
    rank = np.arange(len(neg)) - np.maximum.accumulate(np.where(first, np.arange(len(neg)), 0))
    inpool[neg[rank < ADD_PER_ROUND]] = True
    return bound, True


def _lots(*, pool, assignment) -> np.ndarray:
    """An assignment as lots per pool column."""
    where = {(int(d), int(p)): j for j, (d, p) in enumerate(zip(pool.demand, pool.pick, strict=True))}
    x = np.zeros(len(pool.demand))
    for d, (_, taken) in assignment.items():
        for i, lots in taken:
            j = where.get((d, i))
            if j is not None:
                x[j] += lots
    return x


def _assignment(*, pool, milp) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    out: dict[int, tuple[int, list[tuple[int, int]]]] = {d: (s, []) for d, s in milp.chosen.items()}
    for j in np.flatnonzero(milp.x > 0).tolist():
        d, s = int(pool.demand[j]), int(pool.start[j])
        if milp.chosen.get(d) == s:  # units at a start the demand did not choose are not placed
            out[d][1].append((int(pool.pick[j]), int(milp.x[j])))
    return out


def _cost(cands, assignment, targets, penalty) -> float:
    total = 0.0
    for d, (_, taken) in assignment.items():
        c = cands[d]
        got = sum(lots * c.weight[i] for i, lots in taken)
        total += sum(lots * c.cost[i] for i, lots in taken) + penalty[d] * max(targets[d] - got, 0.0)
    return total


def _read(*, problem: Problem, market, cands, assignment) -> dict[str, Placement]:
    local = local_hours(problem=problem)
    offers = {o.key: o for o in problem.offers}
    out: dict[str, Placement] = {}
    for d, demand in enumerate(problem.demands):
        parts = ()
        if d in assignment:
            s, taken = assignment[d]
            c = cands[d]
            lots: dict[int, int] = {}
            for i, n in taken:
                lots[int(c.offer[i])] = lots.get(int(c.offer[i]), 0) + n
            parts = tuple(
                part_make(
                    problem=problem,
                    demand=demand,
                    offer=problem.offers[o],
                    start=s,
                    units=n * int(market.lot[o]),
                    local=local,
                )
                for o, n in sorted(lots.items())
                if n > 0
            )
        out[demand.key] = placement_make(demand=demand, parts=parts, offers=offers)
    return out
