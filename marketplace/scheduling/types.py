"""The scheduling interface's values (agreed with the Django side; see docs/architecture.md,
"Scheduling"). Frozen dataclasses, exact Decimals, aware datetimes; no Django import."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal


@dataclass(frozen=True, slots=True)
class Offer:
    key: str  # stable id the Django side maps back: "listing:<id>" or "ask:<instrument id>:<price>"
    kind: Literal["retail", "wholesale"]
    pool: str  # pool key, "pool:<id>"; wholesale asks aggregated per price level may use "instrument:<code>"
    region: str  # region code, e.g. "NMG"
    tier: str  # MAIN / EDGE / TERMINAL / PERIPHERAL / REMOTE
    resource_class: str  # e.g. "H100-80G"
    tflops: Decimal | None  # FP16 dense TFLOPS per unit (the class's SCU per unit-hour); None for CPU classes
    price: Decimal  # CNY per unit-hour (retail posted price; wholesale ask price level)
    billing: Literal["per_time", "per_volume"]  # wholesale is always per_time
    minimum_minutes: int  # retail minimum duration; 0 for wholesale
    # wholesale only: the instrument's window, bought and paid WHOLE (price × units × window hours); None for retail
    window: tuple[datetime, datetime] | None
    # free units per horizon hour: free[i] is for [horizon_start + i h, +1 h); for wholesale the ask's qty at
    # every hour of its window (0 outside)
    free: tuple[int, ...]
    lot: int  # wholesale lot size (units must be a multiple); 1 for retail
    rtt_ms: Mapping[str, int]  # round-trip ms to city cores ("BJ", "SH", "GZ", "CD"): the pool's region's figures
    residency: bool  # the pool guarantees data residency in its region
    power_kw: Decimal  # per unit (resource class)
    pue: Decimal  # the pool's PUE
    power_price: Decimal  # the region's flat CNY per kWh
    tou: tuple[str, ...]  # 24 period kinds ("peak"/"flat"/"valley") by LOCAL hour (Asia/Shanghai, UTC+8)
    carbon_kg_per_kwh: Decimal  # the region's grid intensity
    green_share: Decimal  # the pool's green-power share 0..1 (green kWh emit nothing)
    # who sells it ("org:<id>"), or "" when unknown or mixed (wholesale levels): a demand of the same
    # buyer never uses it (an exchange does not sell a buyer its own capacity)
    seller: str = ""


@dataclass(frozen=True, slots=True)
class Demand:
    key: str  # "demand:<id>" or any stable id
    resource_class: str | None  # one class, or None with min_scu set
    # instead of a class: TFLOPS needed (each unit of class c counts tflops(c)); any GPU class eligible
    min_scu: Decimal | None
    units: int  # with resource_class: units needed (each unit counts 1); with min_scu: ignored (0)
    hours: int  # duration, whole hours
    earliest_start: datetime  # aware, on the hour
    latest_finish: datetime  # aware, on the hour; start + hours <= latest_finish
    city: str | None  # city core for the latency ceiling ("BJ"/"SH"/"GZ"/"CD")
    max_rtt_ms: int | None  # latency ceiling to `city`
    regions: frozenset[str] | None  # allowed regions (None: any)
    residency: str | None  # data must stay in this region: only pools in it that guarantee residency
    carbon_weight: Decimal  # CNY per kgCO2 added to the objective
    # ceiling on an offer's price (CNY per unit-hour; for per-volume offers the price × the peak multiplier it may pay)
    max_price: Decimal | None
    priority: int = 0  # operator-set priority class: higher is served first when supply is short
    buyer: str = ""  # who asks ("org:<id>"): offers with the same seller are not for it


@dataclass(frozen=True, slots=True)
class Problem:
    horizon_start: datetime  # aware, on the hour
    hours: int  # horizon length
    offers: tuple[Offer, ...]
    demands: tuple[Demand, ...]
    tou_multipliers: Mapping[str, Decimal]  # {"peak": 1.50, "flat": 1.00, "valley": 0.50}


@dataclass(frozen=True, slots=True)
class Part:
    offer: str  # Offer.key
    units: int
    start: datetime
    # start + demand hours (retail) — the reservation's times; for wholesale the compute runs [start, end) inside
    # the bought window
    end: datetime
    price_cost: Decimal  # what the buyer pays for this part (exact, unrounded; wholesale = whole window)
    energy_cost: Decimal  # units × power_kw × pue × power_price × tou multiplier, summed per hour run
    carbon_kg: Decimal  # units × power_kw × pue × carbon_kg_per_kwh × (1 − green_share), summed per hour run
    carbon_cost: Decimal  # carbon_weight × carbon_kg
    rtt_ms: int | None  # to the demand's city


@dataclass(frozen=True, slots=True)
class Placement:
    demand: str
    parts: tuple[Part, ...]
    requested: Decimal  # units (or SCU) requested
    placed: Decimal  # units (or SCU) placed; < requested when supply is short (pro rata)
    price_cost: Decimal
    energy_cost: Decimal
    carbon_kg: Decimal
    carbon_cost: Decimal
    total: Decimal  # price_cost + energy_cost + carbon_cost


@dataclass(frozen=True, slots=True)
class Solution:
    placements: Mapping[str, Placement]  # by Demand.key (every demand present; parts empty when unplaceable)
    method: Literal["milp", "greedy"]  # "greedy" when the solver was unavailable, failed or timed out (fallback)
    status: str  # solver status text, e.g. "optimal", "time_limit", "fallback: ..."
    total: Decimal
    lower_bound: Decimal | None  # the LP relaxation's bound, when computed
    seconds: float
