"""Builders for scheduling problems in tests: real region figures from data/regions.json and
resource-class figures from data/resource-classes.json, overridable per field."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from marketplace.scheduling import Demand, Offer, Problem

DATA = Path(__file__).resolve().parents[3] / "data"
REGIONS = {r["code"]: r for r in json.loads((DATA / "regions.json").read_text())["regions"]}
CLASSES = {c["code"]: c for c in json.loads((DATA / "resource-classes.json").read_text())["classes"]}
MULTIPLIERS = {k: Decimal(v) for k, v in json.loads((DATA / "regions.json").read_text())["tou_multipliers"].items()}
# 2026-12-01 00:00 local (UTC+8) is 2026-11-30 16:00 UTC: horizon hour i is local hour i % 24
START = datetime(2026, 11, 30, 16, tzinfo=UTC)
HOUR = timedelta(hours=1)


def offer(key: str = "listing:1", *, region: str = "YRD", cls: str = "H100-80G", hours: int = 48, **fields) -> Offer:
    r = REGIONS[region]
    c = CLASSES[cls]
    free = fields.pop("free", 8)
    base = Offer(
        key=key,
        kind="retail",
        pool=fields.pop("pool", f"pool:{key}"),
        region=region,
        tier="MAIN",
        resource_class=cls,
        tflops=Decimal(c["fp16_tflops"]) if c["fp16_tflops"] is not None else None,
        price=Decimal("10.00"),
        billing="per_time",
        minimum_minutes=60,
        window=None,
        free=tuple(free for _ in range(hours)) if isinstance(free, int) else tuple(free),
        lot=1,
        rtt_ms=dict(r["rtt_ms"]),
        residency=False,
        power_kw=Decimal(c["unit_power_kw"]),
        pue=Decimal(r["pue"]),
        power_price=Decimal(r["flat_price_per_kwh"]),
        tou=tuple(r["tou_by_local_hour"]),
        carbon_kg_per_kwh=Decimal(r["carbon_kg_per_kwh"]),
        green_share=Decimal(0),
    )
    return replace(base, **fields)


def demand(
    key: str = "demand:1", *, units: int = 8, hours: int = 4, earliest: int = 0, latest: int | None = None, **fields
) -> Demand:
    base = Demand(
        key=key,
        resource_class="H100-80G",
        min_scu=None,
        units=units,
        hours=hours,
        earliest_start=START + earliest * HOUR,
        latest_finish=START + (latest if latest is not None else earliest + hours) * HOUR,
        city=None,
        max_rtt_ms=None,
        regions=None,
        residency=None,
        carbon_weight=Decimal(0),
        max_price=None,
    )
    return replace(base, **fields)


def problem(offers, demands, *, hours: int = 48) -> Problem:
    return Problem(
        horizon_start=START,
        hours=hours,
        offers=tuple(offers),
        demands=tuple(demands),
        tou_multipliers=dict(MULTIPLIERS),
    )
