"""Column generation for the LP (solver.py, step 2): every demand's candidates as one set of arrays
(`Flat`), the first pool of columns (`initial`), and the pricing round (`price`) that gives the
Lagrangian lower bound and the columns of negative reduced cost."""

import numpy as np

from marketplace.scheduling import model

ADD_PER_ROUND = 20  # columns a demand may gain per pricing round
POOL_ROOM = 4.0  # a demand's first columns: cheapest until they could hold this many times its need
POOL_MIN = 10  # ... and at least this many
STARTS_PER_OFFER = 2  # ... taking at most this many starts of one offer


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
        self.cap = np.concatenate([cands[i].cap for i in live])
        self.local = np.arange(len(self.cost)) - np.repeat(self.offsets[:-1], sizes)
        self.position = np.full(len(cands), -1, dtype=np.int64)
        self.position[live] = np.arange(len(live))

    def as_pool(self, *, market, idx: np.ndarray):
        """Flat candidates `idx` as a model.Pool (in that order)."""
        return model.Pool(
            demand=self.demand[idx],
            pick=self.local[idx],
            offer=self.offer[idx],
            start=self.start[idx],
            hours=self.end[idx] - self.start[idx],
            cost=self.cost[idx],
            weight=self.weight[idx],
            lot=self.lot[idx],
        )

    def picks(self, inpool: np.ndarray) -> dict[int, np.ndarray]:
        return {d: np.flatnonzero(inpool[self.offsets[k] : self.offsets[k + 1]]) for k, d in enumerate(self.live)}

    def mark(self, picks: dict[int, np.ndarray]) -> np.ndarray:
        inpool = np.zeros(len(self.cost), dtype=bool)
        for k, d in enumerate(self.live):
            inpool[self.offsets[k] + picks[d]] = True
        return inpool


def _segment_cumsum(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running sums of `values` restarting at each new value of `group` (sorted by group)."""
    total = np.cumsum(values)
    first = np.r_[True, group[1:] != group[:-1]]
    base = np.maximum.accumulate(np.where(first, np.arange(len(group)), 0))
    return total - total[base] + values[base]


def _rank(group: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal `group` values."""
    at = np.arange(len(group))
    first = np.r_[True, group[1:] != group[:-1]]
    return at - np.maximum.accumulate(np.where(first, at, 0))


def initial(*, flat: Flat, targets: np.ndarray) -> np.ndarray:
    """Each demand's first columns (a mask over `flat`): the cheapest STARTS_PER_OFFER starts of each
    offer it may use, cheapest first by cost per weight, until they could hold POOL_ROOM times its need
    (at least POOL_MIN); and at its cheapest column's start, the cheapest columns until they could hold
    it whole. Spread over offers, so that demands wanting the same cheap offer find other room in the
    first LP."""
    ratio = flat.cost / flat.weight
    room = flat.cap * flat.weight
    need = targets[flat.demand]
    inpool = np.zeros(len(ratio), dtype=bool)
    # one float sort key each: the group's number plus the ratio scaled into [0, 1) within its demand
    sizes = np.diff(flat.offsets)
    position = np.repeat(np.arange(len(sizes)), sizes)
    scaled = ratio / (np.maximum.reduceat(ratio, flat.offsets[:-1]) * (1 + 1e-9) + 1e-300)[position]
    order = np.argsort(position + scaled, kind="stable")  # by demand, then ratio
    group = position * (int(flat.offer.max()) + 1) + flat.offer  # (demand, offer)
    by_offer = np.argsort(group + scaled, kind="stable")
    keep = np.zeros(len(ratio), dtype=bool)
    keep[by_offer[_rank(group[by_offer]) < STARTS_PER_OFFER]] = True
    spread = order[keep[order]]
    held = _segment_cumsum(room[spread], flat.demand[spread])
    rank = _rank(flat.demand[spread])
    # keep a column while the ones before it hold less than POOL_ROOM × need, and the first POOL_MIN
    before = held - room[spread]
    inpool[spread[(before < POOL_ROOM * need[spread]) | (rank < POOL_MIN)]] = True
    best_start = np.zeros(int(flat.demand.max()) + 1, dtype=np.int64)
    firsts = order[_rank(flat.demand[order]) == 0]
    best_start[flat.demand[firsts]] = flat.start[firsts]
    here = order[flat.start[order] == best_start[flat.demand[order]]]
    held = _segment_cumsum(room[here], flat.demand[here])
    inpool[here[held - room[here] < need[here]]] = True
    return inpool


def price(*, market, flat: Flat, inpool: np.ndarray, lp, targets, penalty) -> tuple[float, bool]:
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


def rows_used(*, market, flat, idx: np.ndarray) -> np.ndarray:
    """The capacity rows the columns `idx` touch (as row keys)."""
    width = market.hours + 1
    whole = flat.whole[idx]
    lengths = np.where(whole, 1, flat.end[idx] - flat.start[idx])
    col = np.repeat(np.arange(len(idx)), lengths)
    offs = np.arange(len(col)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    hour = np.where(whole[col], market.hours, flat.start[idx][col] + offs)
    return np.unique(flat.offer[idx][col] * width + hour)
