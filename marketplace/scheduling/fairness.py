"""Policy fairness (trading standard §10) when eligible demand exceeds supply.

Priority classes are served highest first. For each class, a MILP finds the most it can place
(every higher class held at the targets it was given, lower classes absent; shortfall counted as a
fraction of each demand's request, so no demand is favoured for its size). Within the class,
demands compete per resource class (SCU demands, which may use any GPU, as one group); a group that
can be placed whole keeps its requests; otherwise the group's placeable amount M is shared pro rata
to requested amounts: each demand gets floor(M × requested / Σ requested), and the units left over
go one each to the largest fractional remainders (ties by demand key). The cost MILP then places
every demand at its target (a target it cannot reach is missed by as little as possible)."""

import math
import time
from decimal import Decimal
from fractions import Fraction

import numpy as np

from marketplace.scheduling import model
from marketplace.scheduling.costing import requested as requested_of
from marketplace.scheduling.costing import weight as weight_of
from marketplace.scheduling.types import Problem


class TimeUp(Exception):
    """The fairness passes ran out of the round's time."""


def pro_rata(*, supply: Decimal, requests: dict[str, Decimal]) -> dict[str, int]:
    """Whole units of `supply` shared pro rata to `requests`: floors, then the remainder one unit each
    by largest fractional part, ties by key. No demand gets more than it asked for."""
    total = sum(requests.values(), Decimal(0))
    quota = math.floor(min(supply, total))
    if total <= 0 or quota <= 0:
        return {k: 0 for k in requests}
    shares = {k: Fraction(quota) * Fraction(r) / Fraction(total) for k, r in requests.items()}
    out = {k: math.floor(s) for k, s in shares.items()}
    left = quota - sum(out.values())
    for k in sorted(shares, key=lambda k: (-(shares[k] - out[k]), k))[:left]:
        out[k] += 1
    return {k: min(v, math.ceil(requests[k])) for k, v in out.items()}


def widen(*, cands, picks) -> None:
    """Short supply: every eligible offer must be in play, so each demand's pool gains the three
    cheapest starts of every offer it may use."""
    for i, pick in picks.items():
        c = cands[i]
        order = np.lexsort((c.ratio(), c.offer))
        first = np.r_[True, c.offer[order][1:] != c.offer[order][:-1]]
        rank = np.arange(len(order)) - np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        picks[i] = np.union1d(pick, order[rank < 3])


def _placed(*, problem: Problem, market, pool, milp, demand: int) -> Decimal:
    d = problem.demands[demand]
    total = Decimal(0)
    s = milp.chosen.get(demand)
    for j in np.flatnonzero((pool.demand == demand) & (pool.start == s) & (milp.x > 0)):
        offer = problem.offers[int(pool.offer[j])]
        total += weight_of(demand=d, offer=offer) * int(milp.x[j]) * int(market.lot[pool.offer[j]])
    return total


def targets(*, problem: Problem, market, pool, cands, requested: np.ndarray, deadline: float, gap: float) -> np.ndarray:
    """Each demand's target (weight units) under the rule above; each pass's MILP to relative `gap`
    (exact on small rounds), the passes sharing the time until `deadline`."""
    nd = len(problem.demands)
    live = np.array([c is not None for c in cands], dtype=bool) & (requested > 0)
    priority = np.array([d.priority for d in problem.demands])
    out = np.zeros(nd)
    fixed = np.zeros(nd, dtype=bool)
    classes = sorted(set(priority[live].tolist()), reverse=True)
    for n, p in enumerate(classes):
        members = live & (priority == p)
        active = fixed | members
        goal = np.where(fixed, out, np.where(members, requested, 0.0))
        penalty = np.where(fixed, 1000.0, 1.0) / np.maximum(goal, 1e-9)
        left = (deadline - time.perf_counter()) / (len(classes) - n)
        if left <= 0:
            raise TimeUp
        sub = pool.only(active)
        milp = model.milp_solve(
            market=market,
            pool=sub,
            targets=goal,
            penalty=np.where(active, penalty, 0.0),
            active=active,
            time_limit=left,
            gap=gap,
            cost_scale=0.0,
        )
        if not milp.has_solution:
            raise TimeUp
        groups: dict[str, list[int]] = {}
        for i in np.flatnonzero(members).tolist():
            d = problem.demands[i]
            groups.setdefault(d.resource_class or "SCU", []).append(i)
        for members_of in groups.values():
            asked = {problem.demands[i].key: requested_of(demand=problem.demands[i]) for i in members_of}
            got = {
                problem.demands[i].key: min(
                    asked[problem.demands[i].key],
                    _placed(problem=problem, market=market, pool=sub, milp=milp, demand=i),
                )
                for i in members_of
            }
            supply = sum(got.values(), Decimal(0))
            if supply >= sum(asked.values(), Decimal(0)):
                share = dict(asked)
            else:
                share = pro_rata(supply=supply, requests=asked)
            for i in members_of:
                out[i] = float(share[problem.demands[i].key])
        fixed |= members
    return out
