"""The LP and the MILP over a pool of candidate columns, built as whole numpy arrays and passed to
HiGHS in one call (highspy's HighsLp), solved, and read back.

Variables: x = lots of one (demand, offer, start) column (integer in the MILP); z = a demand's
shortfall in weight units (continuous, at a penalty above any real cost); in the MILP also
y = binary choice of a demand's start. Rows: capacity per (retail offer, hour) and per wholesale ask
(whole windows are bought, so one row per ask); coverage per demand (LP: Σ w·x + z ≥ target) or per
(demand, start) with one start chosen (MILP: Σ w·x + z − target·y ≥ 0, Σ y = 1). The LP needs no y:
with y relaxed, any split of the coverage over starts is feasible, so the LP below is the MILP's
relaxation."""

import time
from dataclasses import dataclass

import highspy
import numpy as np

from marketplace.scheduling.columns import Candidates, Market

INF = highspy.kHighsInf


@dataclass(slots=True)
class Pool:
    """The columns in play, flattened over demands (each an index into its demand's Candidates)."""

    demand: np.ndarray  # position in the problem's demands
    pick: np.ndarray  # index into that demand's Candidates
    offer: np.ndarray
    start: np.ndarray
    hours: np.ndarray
    cost: np.ndarray
    weight: np.ndarray
    lot: np.ndarray

    @classmethod
    def make(cls, *, market: Market, cands: list[Candidates | None], picks: dict[int, np.ndarray]) -> "Pool":
        parts = [(d, p) for d, p in sorted(picks.items()) if len(p)]
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, empty, empty, empty, np.zeros(0), np.zeros(0), empty)
        demand = np.concatenate([np.full(len(p), d, dtype=np.int64) for d, p in parts])
        pick = np.concatenate([p for _, p in parts])
        offer = np.concatenate([cands[d].offer[p] for d, p in parts])
        return cls(
            demand=demand,
            pick=pick,
            offer=offer,
            start=np.concatenate([cands[d].start[p] for d, p in parts]),
            hours=np.concatenate([np.full(len(p), cands[d].hours, dtype=np.int64) for d, p in parts]),
            cost=np.concatenate([cands[d].cost[p] for d, p in parts]),
            weight=np.concatenate([cands[d].weight[p] for d, p in parts]),
            lot=market.lot[offer],
        )

    def only(self, mask: np.ndarray) -> "Pool":
        """The columns of the demands `mask` selects."""
        keep = mask[self.demand]
        return Pool(*(getattr(self, f)[keep] for f in Pool.__slots__))

    def only_starts(self, chosen: dict[int, int]) -> "Pool":
        """The columns at each demand's chosen start."""
        pick = np.array([chosen.get(int(d), -1) for d in self.demand], dtype=np.int64)
        keep = pick == self.start
        return Pool(*(getattr(self, f)[keep] for f in Pool.__slots__))


def capacity_entries(*, market: Market, pool: Pool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(column, capacity row, coefficient) entries and each capacity row's bound."""
    whole = market.whole[pool.offer]
    lengths = np.where(whole, 1, pool.hours)
    col = np.repeat(np.arange(len(pool.offer)), lengths)
    offs = np.arange(len(col)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    hour = pool.start[col] + offs
    width = market.hours + 1
    key = pool.offer[col] * width + np.where(whole[col], market.hours, hour)
    keys, row = np.unique(key, return_inverse=True)
    o, h = keys // width, keys % width
    bound = np.where(h == market.hours, market.qty[o], market.free[o, np.minimum(h, market.hours - 1)])
    return col, row, pool.lot[col].astype(float), bound.astype(float)


def _pass(
    h: highspy.Highs,
    *,
    cost: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    integer: np.ndarray | None,
) -> None:
    order = np.lexsort((rows, cols))
    rows, cols, vals = rows[order], cols[order], vals[order]
    ncol = len(cost)
    start = np.searchsorted(cols, np.arange(ncol + 1))
    lp = highspy.HighsLp()
    lp.num_col_ = ncol
    lp.num_row_ = len(row_lower)
    lp.col_cost_ = cost
    lp.col_lower_ = lower
    lp.col_upper_ = upper
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start.astype(np.int32)
    lp.a_matrix_.index_ = rows.astype(np.int32)
    lp.a_matrix_.value_ = vals
    if integer is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in integer]
    h.passModel(lp)


def highs(*, time_limit: float, gap: float | None = None) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(time_limit, 1e-3))
    h.setOptionValue("threads", 1)
    if gap is not None:
        h.setOptionValue("mip_rel_gap", gap)
        if gap < 1e-6:
            h.setOptionValue("mip_abs_gap", 1e-9)
    return h


@dataclass(slots=True)
class LpResult:
    status: str
    objective: float
    x: np.ndarray
    z: np.ndarray  # shortfall per demand position (weight units)
    cover_dual: np.ndarray  # per demand position (≥ 0)
    cap_price: np.ndarray  # per (offer, hour) and per wholesale ask (≥ 0): market.hours + 1 columns
    seconds: float


@dataclass(slots=True)
class MilpResult:
    status: str
    x: np.ndarray  # lots per pool column (integral)
    chosen: dict[int, int]  # demand position → chosen start
    objective: float
    bound: float
    gap: float
    has_solution: bool


def milp_solve(
    *,
    market: Market,
    pool: Pool,
    targets: np.ndarray,
    penalty: np.ndarray,
    active: np.ndarray,
    time_limit: float,
    gap: float,
    cost_scale: float = 1.0,
    initial: tuple[np.ndarray, dict[int, int]] | None = None,
) -> MilpResult:
    """The MILP: one start per active demand, integer lots, shortfall z per (demand, start) at `penalty`."""
    ncol = len(pool.offer)
    pairs, pair_of_col = np.unique(pool.demand * (market.hours + 1) + pool.start, return_inverse=True)
    npair = len(pairs)
    pair_demand = pairs // (market.hours + 1)
    pair_start = pairs % (market.hours + 1)
    act = np.flatnonzero(active)
    choice_row = {int(d): i for i, d in enumerate(act)}
    col, row, val, bound = capacity_entries(market=market, pool=pool)
    ncap = len(bound)
    # rows: [cover per pair][choice per active demand][capacity]
    r_choice0 = npair
    r_cap0 = npair + len(act)
    y0 = ncol
    z0 = ncol + npair
    choice_of_pair = np.array([choice_row[int(d)] for d in pair_demand], dtype=np.int64)
    rows = np.concatenate([pair_of_col, r_cap0 + row, np.arange(npair), r_choice0 + choice_of_pair, np.arange(npair)])
    cols = np.concatenate([np.arange(ncol), col, y0 + np.arange(npair), y0 + np.arange(npair), z0 + np.arange(npair)])
    vals = np.concatenate([pool.weight, val, -targets[pair_demand], np.ones(npair), np.ones(npair)])
    integer = np.concatenate([np.ones(ncol, bool), np.ones(npair, bool), np.zeros(npair, bool)])
    cost = np.concatenate([pool.cost * cost_scale, np.zeros(npair), penalty[pair_demand]])
    model = dict(
        cost=cost,
        lower=np.zeros(ncol + 2 * npair),
        upper=np.concatenate([np.full(ncol, INF), np.ones(npair), targets[pair_demand]]),
        row_lower=np.concatenate([np.zeros(npair), np.ones(len(act)), np.full(ncap, -INF)]),
        row_upper=np.concatenate([np.full(npair, INF), np.ones(len(act)), bound]),
        rows=rows,
        cols=cols,
        vals=vals,
        integer=integer,
    )
    start = None
    if initial is not None:
        # a starting incumbent: lots per pool column and each demand's start
        x0, start0 = initial
        y0v = np.array(
            [1.0 if start0.get(int(d)) == int(s) else 0.0 for d, s in zip(pair_demand, pair_start, strict=True)]
        )
        for d in act:
            mine = np.flatnonzero(pair_demand == d)
            if len(mine) and not y0v[mine].any():
                y0v[mine[0]] = 1.0
        cover = np.bincount(pair_of_col, weights=pool.weight * x0 * (y0v[pair_of_col] > 0), minlength=npair)
        z0v = np.maximum(targets[pair_demand] * y0v - cover, 0.0)
        start = np.concatenate([x0.astype(float), y0v, z0v])
    began = time.perf_counter()
    h, values, has = _run(model, start=start, time_limit=time_limit, gap=gap, presolve=True)
    if has and not _agrees(h, cost=cost, values=values):
        # HiGHS (1.16) can report the optimum it proved while handing back the starting incumbent's
        # values (seen when presolve solves the model outright): those values are not the optimum, so
        # solve again without presolve, which hands back the solution it proved
        left = time_limit - (time.perf_counter() - began)
        h, values, has = _run(model, start=start, time_limit=left, gap=gap, presolve=False)
        # still not the solution it reports: no solution (the caller keeps its own incumbent)
        has = has and _agrees(h, cost=cost, values=values)
    status = h.modelStatusToString(h.getModelStatus()).lower()
    info = h.getInfo()
    chosen: dict[int, int] = {}
    if has:
        y = values[y0:z0]
        for d in act:
            mine = np.flatnonzero(pair_demand == d)
            if len(mine):
                best = mine[np.argmax(y[mine])]
                chosen[int(d)] = int(pair_start[best])
    return MilpResult(
        status=status,
        x=np.rint(values[:ncol]).astype(np.int64) if has else np.zeros(ncol, dtype=np.int64),
        chosen=chosen,
        objective=info.objective_function_value,
        bound=info.mip_dual_bound,
        gap=info.mip_gap,
        has_solution=has,
    )


def _run(
    model: dict, *, start: np.ndarray | None, time_limit: float, gap: float, presolve: bool
) -> tuple[highspy.Highs, np.ndarray, bool]:
    """One MILP run: HiGHS, its solution's values and whether it has a feasible one."""
    h = highs(time_limit=time_limit, gap=gap)
    if not presolve:
        h.setOptionValue("presolve", "off")
    _pass(h, **model)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = start.tolist()
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    has = h.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
    values = np.array(h.getSolution().col_value) if has else np.zeros(len(model["cost"]))
    return h, values, has


def _agrees(h: highspy.Highs, *, cost: np.ndarray, values: np.ndarray) -> bool:
    """Whether the values handed back are the solution whose objective HiGHS reports."""
    reported = h.getInfo().objective_function_value
    return abs(float(cost @ values) - reported) <= 1e-6 * max(1.0, abs(reported))


class Master:
    """The LP relaxation kept in one HiGHS instance, so that column generation adds columns and
    re-solves from the last basis instead of starting again. Rows: coverage per demand, then one
    capacity row per (offer, hour) and per offer for a wholesale ask (rows nobody uses stay empty);
    the first columns are the shortfalls z, one per demand."""

    def __init__(self, *, market: Market, targets: np.ndarray, penalty: np.ndarray) -> None:
        self.market = market
        nd = len(targets)
        self.nd = nd
        width = market.hours + 1
        cap = np.hstack([market.free, market.qty[:, None]]).astype(float).ravel()
        self.h = highs(time_limit=60.0)
        self.h.setOptionValue("presolve", "off")  # re-solves start from the last basis
        self.h.addRows(
            nd + len(cap),
            np.concatenate([targets, np.full(len(cap), -INF)]),
            np.concatenate([np.full(nd, INF), cap]),
            0,
            np.zeros(0, dtype=np.int32),
            np.zeros(0, dtype=np.int32),
            np.zeros(0),
        )
        self.width = width
        self.h.addCols(
            nd,
            penalty.astype(float),
            np.zeros(nd),
            targets.astype(float),
            nd,
            np.arange(nd, dtype=np.int32),
            np.arange(nd, dtype=np.int32),
            np.ones(nd),
        )
        self.columns = np.zeros(0, dtype=np.int64)  # flat candidate index of each LP column after the z's

    def add(self, *, flat, idx: np.ndarray) -> None:
        if not len(idx):
            return
        m = self.market
        whole = flat.whole[idx]
        lengths = np.where(whole, 1, flat.end[idx] - flat.start[idx])
        nnz_per = 1 + lengths
        col = np.repeat(np.arange(len(idx)), lengths)
        offs = np.arange(len(col)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        hour = np.where(whole[col], m.hours, flat.start[idx][col] + offs)
        cap_rows = self.nd + flat.offer[idx][col] * self.width + hour
        # per column: its coverage entry, then its capacity entries (rows ascending within a column)
        starts = np.concatenate([[0], np.cumsum(nnz_per)[:-1]])
        index = np.empty(int(nnz_per.sum()), dtype=np.int32)
        value = np.empty(len(index))
        index[starts] = flat.demand[idx]
        value[starts] = flat.weight[idx]
        pos = np.repeat(starts + 1, lengths) + offs
        index[pos] = cap_rows
        value[pos] = flat.lot[idx][col]
        self.h.addCols(
            len(idx),
            flat.cost[idx],
            np.zeros(len(idx)),
            np.full(len(idx), INF),
            len(index),
            starts.astype(np.int32),
            index,
            value,
        )
        self.columns = np.concatenate([self.columns, idx])

    def retarget(self, targets: np.ndarray) -> None:
        """New coverage targets (policy fairness), every column free again."""
        nd = self.nd
        index = np.arange(nd, dtype=np.int32)
        self.h.changeRowsBounds(nd, index, targets.astype(float), np.full(nd, INF))
        self.h.changeColsBounds(nd, index, np.zeros(nd), targets.astype(float))
        self.keep_only(np.ones(len(self.columns), dtype=bool))

    def keep_only(self, allowed: np.ndarray) -> None:
        """Hold every LP column not `allowed` (a mask over self.columns) at zero."""
        n = len(self.columns)
        upper = np.where(allowed, INF, 0.0)
        self.h.changeColsBounds(n, (self.nd + np.arange(n)).astype(np.int32), np.zeros(n), upper)

    def solve(self, *, time_limit: float) -> LpResult:
        m = self.market
        self.h.setOptionValue("time_limit", max(time_limit, 1e-3))
        self.h.run()
        status = self.h.modelStatusToString(self.h.getModelStatus()).lower()
        sol = self.h.getSolution()
        values = np.asarray(sol.col_value)
        duals = np.asarray(sol.row_dual)
        nd = self.nd
        if len(duals) != nd + m.n * self.width:
            duals = np.zeros(nd + m.n * self.width)
            values = np.zeros(nd + len(self.columns))
        return LpResult(
            status=status,
            objective=self.h.getInfo().objective_function_value,
            x=values[nd:],
            z=values[:nd],
            cover_dual=np.maximum(duals[:nd], 0.0),
            cap_price=np.maximum(-duals[nd:], 0.0).reshape(m.n, self.width),
            seconds=self.h.getRunTime(),
        )
