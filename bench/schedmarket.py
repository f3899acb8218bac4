"""A seeded scheduling market for bench/scheduling.py (and the scheduling tests' larger cases):
pools across the eight regions of data/regions.json and the tiers, with the real regional figures
(flat power price, PUE, carbon intensity, round-trip times, time-of-use by local hour) and the
resource classes' figures of data/resource-classes.json; retail listings (per-time and per-volume)
priced around the §8 reference price, some wholesale asks on weekly instruments, and demands with
realistic windows (some flexible across valley hours), latency ceilings, allowed regions, data
residency, carbon weights, price ceilings and a few priority-class demands.

Each pool's free units vary by hour (existing load); a pool with two listings splits its units
between them (the interface gives every offer its own free units)."""

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from marketplace.scheduling import Demand, Offer, Problem

ROOT = Path(__file__).resolve().parents[1]
HOUR = timedelta(hours=1)
# Monday 2026-12-07 00:00 in Asia/Shanghai
HORIZON_START = datetime(2026, 12, 6, 16, tzinfo=UTC)
TIERS = ("MAIN", "EDGE", "TERMINAL", "PERIPHERAL", "REMOTE")
GPU_CLASSES = ("H100-80G", "A100-80G", "910B", "L40S", "4090")
CITIES = ("BJ", "SH", "GZ", "CD")


def _cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def reference_price(*, cls: dict, region: dict) -> Decimal:
    """Trading standard §8: (capex/(5 × 8760 × 0.70) + power × PUE × flat price + opex) × 1.15."""
    capex = Decimal(cls["unit_capex_cny"]) / (5 * 8760 * Decimal("0.70"))
    power = Decimal(cls["unit_power_kw"]) * Decimal(region["pue"]) * Decimal(region["flat_price_per_kwh"])
    return _cents((capex + power + Decimal(cls["opex_per_hour_cny"])) * Decimal("1.15"))


def market(*, seed: int = 42, pools: int = 100, demands: int = 1000, hours: int = 72) -> Problem:
    rng = random.Random(seed)
    regions_file = json.loads((ROOT / "data" / "regions.json").read_text())
    regions = regions_file["regions"]
    classes = {c["code"]: c for c in json.loads((ROOT / "data" / "resource-classes.json").read_text())["classes"]}
    multipliers = {k: Decimal(v) for k, v in regions_file["tou_multipliers"].items()}
    offers: list[Offer] = []
    residency_pools: list[tuple[str, str]] = []
    for p in range(pools):
        region = rng.choice(regions)
        cls_code = rng.choice(GPU_CLASSES)
        cls = classes[cls_code]
        size = rng.choice((64, 128, 256, 512))
        load = [rng.random() * 0.5 for _ in range(hours)]
        free = [max(0, int(size * (1 - x))) for x in load]
        residency = rng.random() < 0.5
        if residency:
            residency_pools.append((region["code"], cls_code))
        ref = reference_price(cls=cls, region=region)
        pue = _cents(Decimal(region["pue"]) + Decimal(rng.randint(-3, 5)) / 100)
        common = dict(
            pool=f"pool:{p}",
            region=region["code"],
            tier=rng.choice(TIERS),
            resource_class=cls_code,
            tflops=Decimal(cls["fp16_tflops"]),
            lot=1,
            rtt_ms=dict(region["rtt_ms"]),
            residency=residency,
            power_kw=Decimal(cls["unit_power_kw"]),
            pue=pue,
            power_price=Decimal(region["flat_price_per_kwh"]),
            tou=tuple(region["tou_by_local_hour"]),
            carbon_kg_per_kwh=Decimal(region["carbon_kg_per_kwh"]),
            green_share=rng.choice((Decimal(0), Decimal("0.1"), Decimal("0.3"), Decimal("0.6"))),
            window=None,
        )
        two = rng.random() < 0.6
        share = rng.uniform(0.4, 0.7) if two else 1.0
        offers.append(
            Offer(
                key=f"listing:{p}t",
                kind="retail",
                price=_cents(ref * Decimal(rng.randint(100, 130)) / 100),
                billing="per_time",
                minimum_minutes=rng.choice((60, 60, 120, 240)),
                free=tuple(int(f * share) for f in free),
                **common,
            )
        )
        if two:
            offers.append(
                Offer(
                    key=f"listing:{p}v",
                    kind="retail",
                    price=_cents(ref * Decimal(rng.randint(85, 110)) / 100),
                    billing="per_volume",
                    minimum_minutes=0,
                    free=tuple(f - int(f * share) for f in free),
                    **common,
                )
            )
    # wholesale asks on this week's instruments (W window: Monday 00:00 local, 168 h), per price level
    week = (HORIZON_START, HORIZON_START + 168 * HOUR)
    for a in range(max(1, pools // 5)):
        region = rng.choice(regions)
        cls_code = rng.choice(GPU_CLASSES)
        cls = classes[cls_code]
        lot = cls["lot"]
        qty = lot * rng.randint(2, 8)
        ref = reference_price(cls=cls, region=region)
        offers.append(
            Offer(
                key=f"ask:{cls_code}.{region['code']}.{a}",
                kind="wholesale",
                pool=f"instrument:{cls_code}.{region['code']}.MAIN.20261207.W",
                region=region["code"],
                tier="MAIN",
                resource_class=cls_code,
                tflops=Decimal(cls["fp16_tflops"]),
                price=_cents(ref * Decimal(rng.randint(80, 95)) / 100),
                billing="per_time",
                minimum_minutes=0,
                window=week,
                free=tuple(qty for _ in range(hours)),
                lot=lot,
                rtt_ms=dict(region["rtt_ms"]),
                residency=False,
                power_kw=Decimal(cls["unit_power_kw"]),
                pue=Decimal(region["pue"]),
                power_price=Decimal(region["flat_price_per_kwh"]),
                tou=tuple(region["tou_by_local_hour"]),
                carbon_kg_per_kwh=Decimal(region["carbon_kg_per_kwh"]),
                green_share=Decimal(0),
            )
        )
    codes = [r["code"] for r in regions]
    made: list[Demand] = []
    for d in range(demands):
        scu = rng.random() < 0.1
        cls_code = None if scu else rng.choice(GPU_CLASSES)
        length = rng.choice((1, 2, 4, 4, 6, 8, 8, 12, 24))
        earliest = rng.randint(0, hours - length - 1 - 24) if hours - length - 25 > 0 else 0
        flexible = rng.random() < 0.6
        slack = rng.randint(6, 30) if flexible else 0
        latest = min(hours, earliest + length + slack)
        city = rng.choice(CITIES)
        ceiling = rng.choice((None, None, None, 15, 30, 50))
        allowed = frozenset(rng.sample(codes, 4)) if rng.random() < 0.15 else None
        residency = None
        if rng.random() < 0.05 and residency_pools:
            residency, res_cls = rng.choice(residency_pools)
            if not scu:
                cls_code = res_cls
            allowed, ceiling = None, None
        max_price = None
        if rng.random() < 0.3 and cls_code is not None:
            max_price = _cents(
                reference_price(cls=classes[cls_code], region=regions[0]) * Decimal(rng.randint(110, 150)) / 100
            )
        made.append(
            Demand(
                key=f"demand:{d:04d}",
                resource_class=cls_code,
                min_scu=Decimal(rng.randint(1, 16) * 1000) if scu else None,
                units=0 if scu else rng.choice((1, 2, 4, 8, 8, 16, 32)),
                hours=length,
                earliest_start=HORIZON_START + earliest * HOUR,
                latest_finish=HORIZON_START + latest * HOUR,
                city=city,
                max_rtt_ms=ceiling,
                regions=allowed,
                residency=residency,
                carbon_weight=rng.choice((Decimal(0), Decimal(0), Decimal("0.05"), Decimal("0.2"), Decimal("0.5"))),
                max_price=max_price,
                priority=1 if rng.random() < 0.05 else 0,
            )
        )
    return Problem(
        horizon_start=HORIZON_START,
        hours=hours,
        offers=tuple(offers),
        demands=tuple(made),
        tou_multipliers=multipliers,
    )
