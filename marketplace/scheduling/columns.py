"""The candidate columns of the placement model: for each demand, every (offer, start) it may use,
with its cost per unit (price + energy at the time-of-use rate + carbon weight × kgCO2, for that
start) and the units free over the whole run. Built with numpy arrays over offers and hours, so a
round of 1,000 demands × 200 offers × dozens of starts costs tens of milliseconds. Floats here are
only the solver's view: reported costs are recomputed exactly (costing.part_make). Eligibility that
compares prices is decided exactly (Decimal) when the float comparison is too close to call."""

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from marketplace.scheduling.costing import local_hours, requested, start_range, window_hours
from marketplace.scheduling.types import Demand, Problem

INF = float("inf")
TIE = 1e-7


def _le(values: np.ndarray, exact: list[Decimal], bound: Decimal) -> np.ndarray:
    """values[i] <= bound, decided exactly (by `exact[i]`) where the floats are too close to call."""
    b = float(bound)
    mask = values <= b
    close = np.flatnonzero(np.abs(values - b) <= 1e-9 * max(1.0, abs(b)))
    for i in close:
        mask[i] = exact[i] <= bound
    return mask


@dataclass(slots=True)
class Candidates:
    """One demand's feasible columns, flattened: offer index, start hour, cost per lot, weight per lot,
    lots free over the run."""

    demand: int
    offer: np.ndarray
    start: np.ndarray
    cost: np.ndarray
    weight: np.ndarray
    cap: np.ndarray
    target: float  # weight units needed
    hours: int

    def ratio(self) -> np.ndarray:
        return self.cost / self.weight


class Market:
    """The offers as arrays over (offer, horizon hour)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        offers = problem.offers
        n, hours = len(offers), problem.hours
        self.n, self.hours = n, hours
        local = local_hours(problem=problem)
        mults = {k: float(v) for k, v in problem.tou_multipliers.items()}
        self.mult = np.array([[mults[o.tou[local[h]]] for h in range(hours)] for o in offers]).reshape(n, hours)
        self.price = np.array([float(o.price) for o in offers])
        self.price_exact = [o.price for o in offers]
        self.whole = np.array([o.kind == "wholesale" for o in offers], dtype=bool)
        self.volume = np.array([o.kind == "retail" and o.billing == "per_volume" for o in offers], dtype=bool)
        self.lot = np.array([max(o.lot, 1) for o in offers], dtype=np.int64)
        self.tflops = np.array([float(o.tflops) if o.tflops else 0.0 for o in offers])
        self.minimum = np.array(
            [o.minimum_minutes if o.kind == "retail" and o.billing == "per_time" else 0 for o in offers]
        )
        kw = np.array([float(o.power_kw * o.pue) for o in offers])
        self.carbon_rate = np.array(
            [float(o.power_kw * o.pue * o.carbon_kg_per_kwh * (1 - o.green_share)) for o in offers]
        )
        zeros = np.zeros((n, 1))
        energy = (kw * np.array([float(o.power_price) for o in offers]))[:, None] * self.mult
        self.energy_prefix = np.hstack([zeros, np.cumsum(energy, axis=1)])
        self.volume_prefix = np.hstack([zeros, np.cumsum(self.price[:, None] * self.mult, axis=1)])
        self.free = np.array([list(o.free[:hours]) + [0] * (hours - len(o.free)) for o in offers], dtype=np.int64)
        self.free = self.free.reshape(n, hours)
        self.qty = np.array([max(o.free, default=0) if o.kind == "wholesale" else 0 for o in offers], dtype=np.int64)
        ws, we, span = [], [], []
        for o in offers:
            w = window_hours(problem=problem, offer=o) if o.kind == "wholesale" else None
            ws.append(w[0] if w else 0)
            we.append(w[1] if w else (hours if o.kind == "retail" else -1))
            span.append((o.window[1] - o.window[0]).total_seconds() / 3600 if o.window else 0.0)
        self.ws, self.we, self.span = np.array(ws), np.array(we), np.array(span)
        classes = sorted({o.resource_class for o in offers})
        self.class_ids = {c: i for i, c in enumerate(classes)}
        self.cls = np.array([self.class_ids[o.resource_class] for o in offers], dtype=np.int64)
        self.region = np.array([o.region for o in offers], dtype=object)
        self.residency = np.array([o.residency for o in offers], dtype=bool)
        self.seller = np.array([o.seller for o in offers], dtype=object)
        cities = sorted({c for o in offers for c in o.rtt_ms})
        self.rtt = {c: np.array([float(o.rtt_ms.get(c, INF)) for o in offers]) for c in cities}
        self.levels = sorted(set(problem.tou_multipliers.values()))
        self.level_exact = {m: [o.price * m for o in offers] for m in self.levels}

    def eligible(self, demand: Demand) -> np.ndarray:
        """Indices of the offers `demand` may use at some start (static rules, costing.static_reason)."""
        if demand.resource_class is None:
            mask = self.tflops > 0
        else:
            cid = self.class_ids.get(demand.resource_class)
            if cid is None:
                return np.zeros(0, dtype=np.int64)
            mask = self.cls == cid
        if demand.city is not None and demand.max_rtt_ms is not None:
            rtt = self.rtt.get(demand.city)
            mask &= rtt <= demand.max_rtt_ms if rtt is not None else False
        if demand.regions is not None:
            mask &= np.isin(self.region, list(demand.regions))
        if demand.residency is not None:
            mask &= (self.region == demand.residency) & self.residency
        if demand.max_price is not None:
            mask &= self.volume | _le(self.price, self.price_exact, demand.max_price)
        mask &= self.minimum <= demand.hours * 60
        mask &= ~self.whole | (self.we > self.ws)
        if demand.buyer:
            mask &= self.seller != demand.buyer
        return np.flatnonzero(mask)

    def candidates(self, index: int, demand: Demand) -> Candidates | None:
        starts = np.array(start_range(problem=self.problem, demand=demand), dtype=np.int64)
        target = float(requested(demand=demand))
        if len(starts) == 0 or target <= 0:
            return None
        e = self.eligible(demand)
        if len(e) == 0:
            return None
        length = demand.hours
        first, last = int(starts[0]), int(starts[-1])
        # free units at every hour of each run: sliding minimum over the run's hours
        span = self.free[e, first : last + length]
        run_free = sliding_window_view(span, length, axis=1).min(axis=2)
        whole = self.whole[e]
        inside = (self.ws[e][:, None] <= starts[None, :]) & (starts[None, :] + length <= self.we[e][:, None])
        cap = np.where(whole[:, None], np.where(inside, self.qty[e][:, None], 0), run_free)
        lot = self.lot[e]
        cap = cap // lot[:, None]
        ok = cap > 0
        volume = self.volume[e]
        if demand.max_price is not None and volume.any():
            # per-volume: price × the highest multiplier of the hours run must stay within max_price
            allowed = np.zeros(len(e))
            for m in self.levels:
                exact = [self.level_exact[m][i] for i in e]
                allowed = np.where(_le(self.price[e] * float(m), exact, demand.max_price), float(m), allowed)
            top = sliding_window_view(self.mult[e, first : last + length], length, axis=1).max(axis=2)
            ok &= ~volume[:, None] | (top <= allowed[:, None] + 1e-12)
        price = np.where(
            whole[:, None],
            (self.price[e] * self.span[e])[:, None],
            np.where(
                volume[:, None],
                self.volume_prefix[e][:, starts + length] - self.volume_prefix[e][:, starts],
                (self.price[e] * length)[:, None],
            ),
        )
        energy = self.energy_prefix[e][:, starts + length] - self.energy_prefix[e][:, starts]
        carbon = (float(demand.carbon_weight) * self.carbon_rate[e] * length)[:, None]
        # ties go to the earlier start: a relative nudge of 1e-7 per horizon hour, far below a fen but above
        # the solver's tolerances, so a job moves only when moving saves money
        cost = (price + energy + carbon) * lot[:, None] * (1.0 + TIE * starts[None, :])
        w = (self.tflops[e] if demand.resource_class is None else np.ones(len(e))) * lot
        oi, si = np.nonzero(ok)
        if len(oi) == 0:
            return None
        return Candidates(
            demand=index,
            offer=e[oi],
            start=starts[si],
            cost=cost[oi, si],
            weight=w[oi],
            cap=cap[oi, si],
            target=target,
            hours=length,
        )
