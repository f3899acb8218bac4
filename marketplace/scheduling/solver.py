"""The optimising scheduler behind `schedule` (trading standard §10; docs/architecture.md, "Scheduling").

1. Candidate columns (columns.py): every (demand, offer, start) allowed, with its cost per unit for
   that start, in floats.
2. The LP relaxation (model.Master; generation.py). A small round (≤ FULL_COLUMNS candidates) holds
   every column and its LP optimum is the lower bound. A large one starts from each demand's cheapest
   columns and adds columns of negative reduced cost (column generation) until none is left, the LP
   is within 0.1 % of the bound or CG_SHARE of the time is gone; each pricing round gives a
   Lagrangian lower bound valid for the whole model, and the best of them is the `lower_bound`.
3. If the LP cannot meet every demand, supply is short: policy fairness (fairness.py) fixes each
   demand's target, priority class by priority class, pro rata (and the bound is recomputed for
   the targets the answer reaches: the fair ones, or less where a lot could go to one demand only).
4. Integers (`_integers`): on a large round each demand's start is the one carrying most of its LP
   coverage, the LP is solved again with those starts held, and rounded (rounding.py: units rounded
   down, the rest filled cheapest first with the capacity left). The MILP (model.milp_solve, one
   start per demand, every pooled start open) starts from that incumbent: on a small or short round
   always (relative gap 1e-9 on a small one), on a large one only when the rounding is more than
   POLISH above the bound (gap 0.5 %), with the time left. The cheaper answer is kept. If one start
   cannot hold what the LP split over several, supply is short after all: step 3, then step 4 again.
5. Units become Parts whose costs are recomputed exactly (costing.part_make) and the answer is
   checked by `violations`. No LP within the time, or an answer that fails the checks: the greedy
   rule's solution (method "greedy", status "fallback: ...").

Status: "optimal" when the MILP proved its gap, or the answer is within 0.5 % of the lower bound;
"time_limit" when the MILP stopped at the limit with an incumbent (which is used); "feasible"
otherwise (the rounding, kept)."""

import time
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from marketplace.scheduling import fairness, generation, model, rounding
from marketplace.scheduling.checks import violations
from marketplace.scheduling.columns import TIE, Market
from marketplace.scheduling.costing import ZERO, local_hours, part_make, placement_make
from marketplace.scheduling.greedy import greedy
from marketplace.scheduling.types import Placement, Problem, Solution

FULL_COLUMNS = 20_000  # up to this many candidate columns the model holds them all
LARGE_GAP = 0.005
POLISH = 0.01  # a large round's rounding above the bound by more than this goes on to the MILP
SMALL_GAP = 1e-9
CG_ROUNDS = 8
CG_SHARE = 0.6  # column generation stops adding rounds after this share of the time limit
CG_STOP = 1e-3  # stop generating columns when the LP is within this of the bound
RESERVE = 0.15  # seconds kept for reading the answer back and checking it


def fallback(problem: Problem, *, began: float, why: str) -> Solution:
    """The greedy rule's solution, marked as the fallback and why."""
    solution = greedy(problem)
    return replace(solution, status=f"fallback: {why}", seconds=time.perf_counter() - began)


def solve(problem: Problem, *, time_limit: float, began: float, stats: dict | None = None) -> Solution:
    """Steps 1-5 above (`schedule` in entry.py checks the solver can be imported first). `stats`, if
    given, receives the model's sizes and the stages' times (for bench/scheduling.py)."""
    want = stats is not None
    stats = {} if stats is None else stats
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
        # a shortfall of even one weight unit (a unit, a TFLOPS) costs more than any lot the demand may buy,
        # so the solver never leaves a demand short to save buying a whole unit or lot
        penalty[i] = 10.0 * float(np.max(c.cost)) + 1.0
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
    stats["candidates"] = sum(len(cands[i].cost) for i in live)
    stats["columns_seconds"] = time.perf_counter() - began
    full = stats["candidates"] <= FULL_COLUMNS
    flat = generation.Flat(market=market, cands=cands, live=live)
    inpool = np.ones(len(flat.cost), dtype=bool) if full else generation.initial(flat=flat, targets=targets)
    order = sorted(live, key=lambda i: (-problem.demands[i].priority, problem.demands[i].key))
    bound = -np.inf
    master = model.Master(market=market, targets=targets, penalty=penalty)
    master.add(flat=flat, idx=np.flatnonzero(inpool))
    lp = None
    try:
        for _ in range(1 if full else CG_ROUNDS):
            left = deadline - time.perf_counter() - RESERVE
            if left <= 0 or (lp is not None and time.perf_counter() > began + CG_SHARE * time_limit):
                break  # leave the rest of the time to the integer step: go on with the last LP
            answer = master.solve(time_limit=left)
            if answer.status != "optimal":
                break
            lp = answer
            if full:
                bound = lp.objective
                break
            before = inpool.copy()
            lagrange, added = generation.price(
                market=market, flat=flat, inpool=inpool, lp=lp, targets=targets, penalty=penalty
            )
            bound = max(bound, lagrange)
            if not added or lp.objective - bound <= CG_STOP * abs(lp.objective):
                inpool = before  # the columns just priced in were not solved for: leave them out
                break
            master.add(flat=flat, idx=np.flatnonzero(inpool & ~before))
        if lp is None:
            return fallback(problem, began=began, why="time_limit")
        stats["lp_columns"] = len(lp.x) + nd
        if want:
            stats["lp_rows"] = nd + len(generation.rows_used(market=market, flat=flat, idx=master.columns[: len(lp.x)]))
        stats["lp_seconds"] = time.perf_counter() - began - stats["columns_seconds"]
        picks = flat.picks(inpool)
        pool = flat.as_pool(market=market, idx=master.columns[: len(lp.x)])
        short = bool(np.any(lp.z > 1e-6 * np.maximum(targets, 1.0)))
        requested = targets

        def fair_targets():
            return _fair(problem=problem, market=market, cands=cands, picks=picks, full=full,
                         requested=requested, deadline=deadline)  # fmt: skip

        if short:
            targets = fair_targets()
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
            master=master,
            flat=flat,
            full=full,
        )
        assignment, status = _integers(**work, targets=targets, exact=full or short)
        if not short and _short(cands, assignment, targets):
            # the LP could split a demand over several starts; with one start it cannot be met: short supply
            short = True
            targets = fair_targets()
            assignment, status = _integers(**work, targets=targets, exact=True)
        if short:
            # the bound for what the answer places: the fair targets, or less where one was missed (a lot
            # that only one of two demands can have); the bound of the fair targets themselves would not
            # bound an answer that misses one
            bound = _bound_after_fairness(
                market=market,
                master=master,
                flat=flat,
                inpool=inpool,
                targets=np.minimum(targets, _reached(cands, assignment)),
                penalty=penalty,
                full=full,
                deadline=deadline,
            )
    except fairness.TimeUp:
        return fallback(problem, began=began, why="time_limit")
    placements = _read(problem=problem, market=market, cands=cands, assignment=assignment)
    total = sum((p.total for p in placements.values()), ZERO)
    lower = _decimal_floor(bound, hours=problem.hours)
    if status == "feasible" and lower is not None and total <= lower * Decimal(1 + LARGE_GAP):
        status = "optimal"
    solution = Solution(
        placements=placements, method="milp", status=status, total=total, lower_bound=lower, seconds=0.0
    )
    broken = violations(problem, solution)
    if broken:
        return fallback(problem, began=began, why=f"the solver's answer failed the checks: {broken[0]}")
    return replace(solution, seconds=time.perf_counter() - began)


def _bound_after_fairness(*, market, master, flat, inpool, targets, penalty, full, deadline) -> float:
    """The lower bound for the fair targets: the LP again (warm) with them; on a large round one more
    pricing pass for a bound valid over every column. None (-inf) when the LP still falls short (a
    target out of a demand's reach: the penalties are in the LP's value, not a cost)."""
    left = deadline - time.perf_counter() - RESERVE
    if left <= 0.01:
        return -np.inf
    master.retarget(targets)
    lp = master.solve(time_limit=left)
    if lp.status != "optimal" or np.any(lp.z > 1e-6 * np.maximum(targets, 1.0)):
        return -np.inf
    if full:
        return lp.objective
    known = np.zeros(len(flat.cost), dtype=bool)
    known[master.columns] = True
    best = -np.inf
    for _ in range(CG_ROUNDS):  # column generation again, for the new targets
        before = known.copy()
        bound, added = generation.price(market=market, flat=flat, inpool=known, lp=lp, targets=targets, penalty=penalty)
        best = max(best, bound)
        left = deadline - time.perf_counter() - RESERVE
        if not added or lp.objective - best <= CG_STOP * abs(lp.objective) or left <= 0.01:
            break
        master.add(flat=flat, idx=np.flatnonzero(known & ~before))
        lp = master.solve(time_limit=left)
        if lp.status != "optimal":
            break
    return best


def _fair(*, problem, market, cands, picks, full, requested, deadline) -> np.ndarray:
    if not full:
        fairness.widen(cands=cands, picks=picks)
    wide = model.Pool.make(market=market, cands=cands, picks=picks)
    # the passes may take half the time left; the cost MILP needs the rest
    share = (deadline - RESERVE - time.perf_counter()) / 2
    return fairness.targets(
        problem=problem,
        market=market,
        pool=wide,
        cands=cands,
        requested=requested,
        deadline=time.perf_counter() + share,
        gap=SMALL_GAP if full else LARGE_GAP,
    )


def _reached(cands, assignment) -> np.ndarray:
    """Weight units each demand's assignment covers."""
    out = np.zeros(len(cands))
    for d, (_, taken) in assignment.items():
        out[d] = sum(lots * cands[d].weight[i] for i, lots in taken)
    return out


def _short(cands, assignment, targets) -> bool:
    for d, c in enumerate(cands):
        if c is None or targets[d] <= 0:
            continue
        taken = assignment.get(d, (0, []))[1]
        if sum(lots * c.weight[i] for i, lots in taken) < targets[d] - 1e-9:
            return True
    return False


def _integers(
    *,
    problem,
    market,
    cands,
    picks,
    lp_pool,
    lp,
    penalty,
    order,
    live,
    bound,
    deadline,
    targets,
    exact,
    master,
    flat,
    full,
) -> tuple[dict, str]:
    """Step 4: the LP rounded, then the MILP from that incumbent; the cheaper answer and its status."""
    nd = len(problem.demands)

    def round_from(x: np.ndarray, index: np.ndarray, demand: np.ndarray) -> dict:
        return rounding.round_lp(
            market=market, cands=cands, pick_index=index, pick_demand=demand, x=x, targets=targets, order=order
        )

    if exact:
        rounded = round_from(lp.x, lp_pool.pick, lp_pool.demand)
    else:
        # each demand at the start carrying most of its LP coverage; the LP again with those starts held
        # (warm, in the master) and its cheapest columns there added; that LP rounded
        chosen = _starts(market=market, cands=cands, pool=lp_pool, x=lp.x, live=live)
        for d in live:
            here = np.flatnonzero(cands[d].start == chosen[d])
            here = here[np.argsort(cands[d].ratio()[here], kind="stable")[: generation.POOL_MIN]]
            picks[d] = np.union1d(picks[d], here)
        held = model.Pool.make(market=market, cands=cands, picks=picks)
        held = held.only_starts({d: int(chosen[d]) for d in live})
        known = np.zeros(len(flat.cost), dtype=bool)
        known[master.columns] = True
        wanted = flat.offsets[flat.position[held.demand]] + held.pick
        master.add(flat=flat, idx=np.unique(wanted[~known[wanted]]))
        cols = master.columns
        master.keep_only(chosen[flat.demand[cols]] == flat.start[cols])
        left = deadline - time.perf_counter() - RESERVE
        fixed = master.solve(time_limit=left) if left > 0.01 else None
        if fixed is not None and fixed.status == "optimal":
            rounded = round_from(fixed.x, flat.local[cols], flat.demand[cols])
        else:
            rounded = round_from(lp.x, lp_pool.pick, lp_pool.demand)
    for d, (_, taken) in rounded.items():
        picks[d] = np.union1d(picks[d], np.array([i for i, _ in taken], dtype=np.int64))
    assignment, status = rounded, "feasible"
    left = deadline - time.perf_counter() - RESERVE
    # a large round runs the MILP only when the rounding is more than POLISH above the bound
    close = not exact and _cost(cands, rounded, targets, penalty) <= bound * (1 + POLISH)
    if left > 0.01 and not close:
        active = np.zeros(nd, dtype=bool)
        active[[d for d in live if targets[d] > 0]] = True
        # every start in the pool stays open: a start chosen from the LP may be the wrong one
        pool = model.Pool.make(market=market, cands=cands, picks=picks)
        x0 = _lots(pool=pool, assignment=rounded)
        sub = pool.only(active)
        milp = model.milp_solve(
            market=market,
            pool=sub,
            targets=targets,
            penalty=penalty,
            active=active,
            time_limit=left,
            gap=SMALL_GAP if full else LARGE_GAP,
            initial=(x0[active[pool.demand]], {d: s for d, (s, _) in rounded.items()}),
        )
        if milp.has_solution:
            mine = _assignment(pool=sub, milp=milp)
            if _cost(cands, mine, targets, penalty) <= _cost(cands, rounded, targets, penalty) + 1e-9:
                assignment = mine
                status = "time_limit" if "time" in milp.status else milp.status
    return assignment, status


def _starts(*, market, cands, pool, x: np.ndarray, live: list[int]) -> np.ndarray:
    """Each demand's start carrying most of its LP coverage (the earlier on ties; a demand the LP left
    uncovered: its cheapest column's start); -1 for demands with no candidates."""
    chosen = np.full(len(cands), -1, dtype=np.int64)
    for d in live:
        c = cands[d]
        chosen[d] = c.start[int(np.argmin(c.ratio()))]
    used = x > 1e-9
    if used.any():
        width = market.hours + 1
        keys, inverse = np.unique(pool.demand[used] * width + pool.start[used], return_inverse=True)
        cover = np.bincount(inverse, weights=(x * pool.weight)[used])
        demand, start = keys // width, keys % width
        order = np.lexsort((start, -cover, demand))
        first = order[np.r_[True, demand[order][1:] != demand[order][:-1]]]
        chosen[demand[first]] = start[first]
    return chosen


def _decimal_floor(value: float, *, hours: int) -> Decimal | None:
    """The bound as a Decimal, lowered by what the floats may have added: the solver's tolerance and
    the nudge that breaks ties towards earlier starts (columns.TIE per hour)."""
    if not np.isfinite(value):
        return None
    value -= (TIE * hours + 1e-7) * max(1.0, abs(value))
    return Decimal(repr(float(value))).quantize(Decimal("0.0001"), rounding=ROUND_FLOOR)


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
