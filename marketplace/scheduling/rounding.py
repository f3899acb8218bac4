"""From the LP to integers: each demand's start is the one carrying most of its LP coverage; its LP
units there are rounded down, then every demand still short (by priority class, then key) fills up
at its start from its cheapest columns with the capacity left, in whole lots; if its start cannot
hold it, its next starts (by LP coverage, then cheapest column) are tried and the one placing most
kept. The result always keeps every capacity, lot and eligibility rule (only candidate columns are
used, and capacity is counted as it is taken); it is the MILP's starting incumbent."""

import math

import numpy as np

from marketplace.scheduling.columns import Candidates, Market

Assignment = dict[int, tuple[int, list[tuple[int, int]]]]  # demand → (start, [(candidate index, lots)])


class Room:
    """Capacity left: per (offer, hour) for retail, per ask for wholesale (in units)."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.used = np.zeros_like(market.free)
        self.whole_used = np.zeros(market.n, dtype=np.int64)

    def lots(self, c: Candidates, idx: np.ndarray) -> np.ndarray:
        """Whole lots free over the run of each candidate column `idx` of `c`."""
        m = self.market
        o = c.offer[idx]
        s = c.start[idx]
        room = np.full(len(idx), np.iinfo(np.int64).max, dtype=np.int64)
        for k in range(c.hours):  # the run's minimum, one hour at a time over all columns
            h = np.minimum(s + k, m.hours - 1)
            room = np.minimum(room, m.free[o, h] - self.used[o, h])
        room = np.where(m.whole[o], m.qty[o] - self.whole_used[o], room)
        return np.maximum(room, 0) // m.lot[o]

    def take(self, c: Candidates, i: int, lots: int) -> None:
        m = self.market
        oi, si = int(c.offer[i]), int(c.start[i])
        units = lots * int(m.lot[oi])
        if m.whole[oi]:
            self.whole_used[oi] += units
        else:
            self.used[oi, si : si + c.hours] += units


def _fill(*, room: Room, c: Candidates, start: int, need: float, have: list[tuple[int, int]]) -> list[tuple[int, int]]:
    idx = np.flatnonzero(c.start == start)
    idx = idx[np.argsort(c.ratio()[idx], kind="stable")]
    avail = room.lots(c, idx)
    taken = list(have)
    for i, a in zip(idx.tolist(), avail.tolist(), strict=True):
        if need <= 1e-9:
            break
        if a <= 0:
            continue
        lots = min(a, math.ceil(need / c.weight[i] - 1e-9))
        if lots <= 0:
            continue
        room.take(c, i, lots)
        taken.append((i, lots))
        need -= lots * c.weight[i]
    return taken


def _release(room: Room, c: Candidates, taken: list[tuple[int, int]]) -> None:
    for i, lots in taken:
        room.take(c, i, -lots)


def round_lp(
    *,
    market: Market,
    cands: list[Candidates | None],
    pick_index: np.ndarray,
    pick_demand: np.ndarray,
    x: np.ndarray,
    targets: np.ndarray,
    order: list[int],
) -> Assignment:
    """`pick_index`/`pick_demand`/`x`: the LP's columns (candidate index, demand, lots, continuous)."""
    coverage: dict[int, dict[int, float]] = {}
    base: dict[int, dict[int, float]] = {}
    for j in np.flatnonzero(x > 1e-9).tolist():
        d = int(pick_demand[j])
        c = cands[d]
        i = int(pick_index[j])
        s = int(c.start[i])
        coverage.setdefault(d, {}).setdefault(s, 0.0)
        coverage[d][s] += x[j] * c.weight[i]
        base.setdefault(d, {})[i] = x[j]
    room = Room(market)
    out: Assignment = {}
    for d in order:
        c = cands[d]
        if c is None or targets[d] <= 0:
            continue
        cov = coverage.get(d, {})
        start = max(cov, key=lambda s: (cov[s], -s)) if cov else int(c.start[np.argmin(c.ratio())])
        taken: list[tuple[int, int]] = []
        need = targets[d]
        for i, v in base.get(d, {}).items():
            if int(c.start[i]) != start:
                continue
            lots = min(math.floor(v + 1e-6), int(room.lots(c, np.array([i]))[0]))
            if lots > 0:
                room.take(c, i, lots)
                taken.append((i, lots))
                need -= lots * c.weight[i]
        out[d] = (start, taken)
    # second pass: fill what rounding down left short, in priority order
    for d in order:
        if d not in out:
            continue
        c = cands[d]
        start, taken = out[d]
        need = targets[d] - sum(lots * c.weight[i] for i, lots in taken)
        if need <= 1e-9:
            continue
        filled = _fill(room=room, c=c, start=start, need=need, have=taken)
        got = sum(lots * c.weight[i] for i, lots in filled)
        if got >= targets[d] - 1e-9:
            out[d] = (start, filled)
            continue
        best = (got, start, filled)
        _release(room, c, filled)
        cov = coverage.get(d, {})
        ratio = c.ratio()
        others = sorted({int(s) for s in c.start} - {start}, key=lambda s: (-cov.get(s, 0.0), s))
        others.sort(key=lambda s: (-cov.get(s, 0.0), float(np.min(ratio[c.start == s]))))
        for s in others[:4]:
            trial = _fill(room=room, c=c, start=s, need=targets[d], have=[])
            got = sum(lots * c.weight[i] for i, lots in trial)
            _release(room, c, trial)
            if got > best[0] + 1e-9:
                best = (got, s, trial)
            if got >= targets[d] - 1e-9:
                break
        _, s, trial = best
        for i, lots in trial:
            room.take(c, i, lots)
        out[d] = (s, trial)
    return out
