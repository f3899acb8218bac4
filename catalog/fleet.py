"""The connected fleet as the operator console shows it (统一监管).

Installed units are the descriptors' units of the pools connected now (grid-connection standard
§4); committed units are those held by contracts and retail reservations (``CapacityCommitment``
of kind ``committed``). Utilisation = committed ÷ installed, now and per local day (Asia/Shanghai)
as unit-hours: a commitment counts from when it was made (or its start, if later) until it was
released (or its end, if sooner), so a past day shows what was held that day. Units are summed
per kind of class (GPU, NPU, CPU): a GPU and a vCPU are not the same unit.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db.models import Q, Sum

from catalog.models import CapacityCommitment, CommitmentKind, PoolResource, PoolStatus

LOCAL = ZoneInfo("Asia/Shanghai")
RATIO = Decimal("0.0001")  # utilisation as a ratio to 4 places (a percentage to 2), half-up


def ratio(part, whole) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(RATIO, rounding=ROUND_HALF_UP) if whole else None


@dataclass(frozen=True)
class FleetCell:
    region: str
    tier: str
    kind: str
    installed: int
    committed: int

    @property
    def utilisation(self) -> Decimal | None:
        return ratio(self.committed, self.installed)


def fleet_now(*, now: datetime) -> list[FleetCell]:
    """Installed and committed units of connected pools now, per region, tier and kind of class
    (two grouped queries, whatever the number of pools)."""
    key = ("pool__region_id", "pool__tier", "resource_class__kind")
    installed = {
        tuple(row[k] for k in key): row["units"]
        for row in PoolResource.objects.filter(pool__status=PoolStatus.CONNECTED)
        .values(*key)
        .annotate(units=Sum("units"))
        .order_by()
    }
    committed = {
        tuple(row[k] for k in key): row["units"]
        for row in CapacityCommitment.objects.filter(
            Q(released_at__isnull=True) | Q(released_at__gt=now),
            kind=CommitmentKind.COMMITTED,
            pool__status=PoolStatus.CONNECTED,
            start__lte=now,
            end__gt=now,
            created_at__lte=now,
        )
        .values(*key)
        .annotate(units=Sum("units"))
        .order_by()
    }
    return [
        FleetCell(region, tier, kind, units, committed.get((region, tier, kind), 0))
        for (region, tier, kind), units in sorted(installed.items())
    ]


@dataclass(frozen=True)
class UtilisationDay:
    day: date
    kind: str
    installed_hours: Decimal  # unit-hours of the fleet connected now, over the day
    committed_hours: Decimal  # unit-hours held by commitments during the day

    @property
    def utilisation(self) -> Decimal | None:
        return ratio(self.committed_hours, self.installed_hours)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=LOCAL)
    return start, start + timedelta(days=1)


def utilisation_by_day(*, first: date, last: date, now: datetime) -> list[UtilisationDay]:
    """Per local day in [first, last] and kind of class: committed ÷ installed unit-hours of
    the pools connected now. Today counts up to ``now`` only (the rest has not happened)."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if not days:
        return []
    start, end = local_day_bounds(days[0])[0], local_day_bounds(days[-1])[1]
    installed: dict[str, int] = {
        row["resource_class__kind"]: row["units"]
        for row in PoolResource.objects.filter(pool__status=PoolStatus.CONNECTED)
        .values("resource_class__kind")
        .annotate(units=Sum("units"))
        .order_by()
    }
    held: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    ranges = (
        CapacityCommitment.objects.filter(
            kind=CommitmentKind.COMMITTED, pool__status=PoolStatus.CONNECTED, start__lt=end, end__gt=start
        )
        .values_list("resource_class__kind", "start", "end", "created_at", "released_at")
        .annotate(units=Sum("units"))
        .order_by()
    )
    for kind, c_start, c_end, created, released, units in ranges:
        held_from = max(c_start, created)
        held_until = min(c_end, released or c_end, now)
        for day in days:
            day_start, day_end = local_day_bounds(day)
            overlap = (min(held_until, day_end) - max(held_from, day_start)).total_seconds()
            if overlap > 0:
                held[(day, kind)] += Decimal(units) * Decimal(int(overlap)) / 3600
    out = []
    for day in days:
        day_start, day_end = local_day_bounds(day)
        seconds = max(0, int((min(day_end, now) - day_start).total_seconds()))
        for kind in sorted(installed):
            out.append(
                UtilisationDay(day, kind, installed[kind] * Decimal(seconds) / 3600, held.get((day, kind), Decimal(0)))
            )
    return out
