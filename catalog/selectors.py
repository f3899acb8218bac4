"""Reads of catalog data. Tenant reads take the organisation they are scoped to."""

from dataclasses import dataclass
from decimal import Decimal

from catalog.descriptor import descriptor_schema
from catalog.models import Heartbeat, Pool, PoolKey, PoolStatus, Region, ResourceClass, TouPeriod
from catalog.pricing import (
    CostBreakdown,
    cost_per_unit_hour,
    price_per_scu,
    reference_price,
)


def pool_descriptor_schema() -> dict:
    return descriptor_schema(
        region_codes=list(Region.objects.values_list("code", flat=True)),
        class_codes=list(ResourceClass.objects.values_list("code", flat=True)),
    )


def pools_for_org(*, organisation):
    return Pool.objects.for_org(organisation).select_related("region").prefetch_related("resources")


def pools_all():
    return Pool.objects.select_related("region", "provider").prefetch_related("resources")


def pools_awaiting_verification():
    return pools_all().filter(status=PoolStatus.APPLIED).order_by("created_at")


def pool_get(*, organisation, pool_id: int, operator: bool = False) -> Pool | None:
    """A pool of the organisation's (or any pool, for the operator); None if not visible."""
    qs = pools_all() if operator else pools_for_org(organisation=organisation)
    return qs.filter(pk=pool_id).first()


def pool_keys(*, pool: Pool):
    return PoolKey.objects.filter(pool=pool).select_related("created_by")


def pool_heartbeats(*, pool: Pool):
    return Heartbeat.objects.filter(pool=pool)


def pool_heartbeat_timeline(*, pool: Pool, start, end) -> list[tuple]:
    """(ts, health, available units per class) of the pool's heartbeats in [start, end), oldest
    first; at most one a minute is kept over a long range (the chart's resolution), the last of
    each minute."""
    rows = list(
        Heartbeat.objects.filter(pool=pool, ts__gte=start, ts__lt=end)
        .order_by("ts", "pk")
        .values_list("ts", "health", "available")
    )
    if len(rows) <= 1500:
        return rows
    kept: dict = {}
    for row in rows:
        kept[row[0].replace(second=0, microsecond=0)] = row
    return list(kept.values())


def tou_tables() -> dict[str, list[str]]:
    """Each region's time-of-use period kind for the local hours 0–23 (trading standard §7)."""
    return dict(Region.objects.values_list("code", "tou_by_local_hour"))


def tou_multipliers() -> dict[str, Decimal]:
    """Each time-of-use period kind's price multiplier (§7)."""
    return dict(TouPeriod.objects.values_list("kind", "multiplier"))


def class_meters() -> dict[str, str]:
    """Each resource class's per-volume meter (§6.2)."""
    return dict(ResourceClass.objects.values_list("code", "meter"))


@dataclass(frozen=True)
class ReferencePrice:
    resource_class: str
    region: str
    tick: Decimal
    cost: CostBreakdown
    reference_price: Decimal
    price_per_scu: Decimal | None


def reference_prices(*, resource_class: str | None = None, region: str | None = None) -> list[ReferencePrice]:
    """The reference price of every class × region (trading standard §8), with the region's PUE
    and flat power price."""
    classes = ResourceClass.objects.all()
    regions = Region.objects.all()
    if resource_class:
        classes = classes.filter(code=resource_class)
    if region:
        regions = regions.filter(code=region)
    regions = list(regions)
    out = []
    for c in classes:
        for r in regions:
            cost = cost_per_unit_hour(
                unit_capex=c.unit_capex_cny,
                unit_power_kw=c.unit_power_kw,
                pue=r.pue,
                flat_price_per_kwh=r.flat_price_per_kwh,
                opex_per_hour=c.opex_per_hour_cny,
            )
            price = reference_price(cost.cost, c.tick)
            scu = price_per_scu(price, c.fp16_tflops)  # exact; shown rounded half-up to 6 places
            out.append(
                ReferencePrice(
                    c.code,
                    r.code,
                    c.tick,
                    cost,
                    price,
                    scu,
                )
            )
    return out
