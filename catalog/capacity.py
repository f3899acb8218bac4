"""Capacity accounting (grid-connection standard §4), the one query layer for every sale.

For every pool, class and hour: installed = the descriptor's units; committed = units held by
contracts and retail reservations overlapping the hour; offered = units in open sell orders and
active listings; sellable = installed − committed − offered. Commitments live in
``CapacityCommitment``; later features add theirs through ``catalog.services.capacity_commit``.
Only connected pools sell: the sellable units of any other pool are 0.
Hours are whole UTC hours, which are whole local hours too (Asia/Shanghai is UTC+8, no DST).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connections, router
from django.db.models import Sum

from catalog.models import CapacityCommitment, CapacityLoad, CommitmentKind, PoolResource, PoolStatus

HOUR = timedelta(hours=1)
MAX_HOURS = 24 * 93  # one query covers at most about a quarter
# a key's load rows past which a sell folds them (each sell and each matching statement adds one,
# and every later sell reads them all: 2,500 rows cost a sell's check about a millisecond)
LOAD_FOLD_ROWS = 64


@dataclass(frozen=True)
class CapacityHour:
    pool_id: int
    resource_class: str
    hour: datetime
    installed: int
    committed: int
    offered: int
    sellable: int


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_ceil(moment: datetime) -> datetime:
    floor = hour_floor(moment)
    return floor if floor == moment.astimezone(UTC) else floor + HOUR


def capacity_by_hour(
    *, pool_ids, start: datetime, end: datetime, resource_class: str | None = None, exclude_source: str | None = None
) -> list[CapacityHour]:
    """Per pool, class and hour in [start, end): installed, committed, offered, sellable."""
    start, end = hour_floor(start), hour_ceil(end)
    hours = int((end - start) / HOUR)
    if hours <= 0:
        return []
    if hours > MAX_HOURS:
        raise ValueError(f"at most {MAX_HOURS} hours per query")
    resources = PoolResource.objects.filter(pool_id__in=pool_ids).select_related("pool")
    if resource_class is not None:
        resources = resources.filter(resource_class_id=resource_class)
    installed = {(r.pool_id, r.resource_class_id): (r.units, r.pool.status) for r in resources}
    if not installed:
        return []
    commitments = CapacityCommitment.objects.open().overlapping(start, end).filter(pool_id__in=pool_ids)
    if resource_class is not None:
        commitments = commitments.filter(resource_class_id=resource_class)
    if exclude_source is not None:
        commitments = commitments.exclude(source=exclude_source)
    held: dict[tuple, list[int]] = defaultdict(lambda: [0] * (2 * hours))
    # Commitments of one instrument or listing share their range: summed in SQL, they are a few rows
    ranges = commitments.values("pool_id", "resource_class_id", "kind", "start", "end").annotate(units=Sum("units"))
    for c in ranges.order_by():
        row = held[(c["pool_id"], c["resource_class_id"])]
        offset = 0 if c["kind"] == CommitmentKind.COMMITTED else hours
        first = max(0, int((hour_floor(c["start"]) - start) / HOUR))
        last = min(hours, int((hour_ceil(c["end"]) - start) / HOUR))
        for i in range(first, last):
            row[offset + i] += c["units"]
    out = []
    for (pool_id, cls), (units, status) in sorted(installed.items()):
        row = held.get((pool_id, cls))
        for i in range(hours):
            committed = row[i] if row else 0
            offered = row[hours + i] if row else 0
            sellable = units - committed - offered if status == PoolStatus.CONNECTED else 0
            out.append(CapacityHour(pool_id, cls, start + i * HOUR, units, committed, offered, sellable))
    return out


def sellable_units(*, pool_id: int, resource_class: str, start: datetime, end: datetime) -> int:
    """The units of a class that a pool can still sell over the whole of [start, end)."""
    rows = capacity_by_hour(pool_ids=[pool_id], start=start, end=end, resource_class=resource_class)
    return min((r.sellable for r in rows), default=0)


def sellable_by_pool(
    *, installed: dict[int, int], resource_class: str, start: datetime, end: datetime, crowded: list | None = None
) -> dict:
    """``sellable_units`` for many connected pools at once, given each one's installed units of
    the class (pool id → units): what each can still sell over the whole of [start, end), in one
    query over the open commitments (plain SQL on PostgreSQL: order entry asks this for every
    batch of sells). ``crowded``: a list to which the keys (pool id, start, end) whose load has
    grown past ``LOAD_FOLD_ROWS`` rows are added, for a caller that writes to fold them."""
    start, end = hour_floor(start), hour_ceil(end)
    hours = int((end - start) / HOUR)
    if hours <= 0 or not installed:
        return {pool_id: 0 for pool_id in installed}
    if hours > MAX_HOURS:
        raise ValueError(f"at most {MAX_HOURS} hours per query")
    pool_ids = sorted(installed)
    connection = connections[router.db_for_read(CapacityCommitment)]
    if connection.vendor == "postgresql":  # the load PostgreSQL keeps: a few rows per pool, not every open offer
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT pool_id, start, "end", SUM(units), COUNT(*) FROM {CapacityLoad._meta.db_table} '  # noqa: S608
                f'WHERE start < %s AND "end" > %s AND resource_class_id = %s '
                f'AND pool_id IN ({", ".join(["%s"] * len(pool_ids))}) GROUP BY pool_id, start, "end"',
                [end, start, resource_class, *pool_ids],
            )
            ranges = cursor.fetchall()
        if crowded is not None:
            crowded += [row[:3] for row in ranges if row[4] > LOAD_FOLD_ROWS]
    else:
        ranges = (
            CapacityCommitment.objects.open()
            .overlapping(start, end)
            .filter(pool_id__in=pool_ids, resource_class_id=resource_class)
            .values("pool_id", "start", "end")
            .annotate(units=Sum("units"))
            .order_by()
            .values_list("pool_id", "start", "end", "units")
        )
    load: dict[int, list[int]] = {}
    for pool_id, c_start, c_end, units, *_ in ranges:
        row = load.setdefault(pool_id, [0] * hours)
        first = max(0, int((hour_floor(c_start) - start) / HOUR))
        last = min(hours, int((hour_ceil(c_end) - start) / HOUR))
        for i in range(first, last):
            row[i] += units
    return {pool_id: units - max(load.get(pool_id, [0])) for pool_id, units in installed.items()}


def capacity_summary(*, pool_ids, start: datetime, end: datetime, resource_class: str | None = None):
    """Per pool and class: installed and the minimum committed/offered/sellable over the range's hours
    (max for committed and offered, min for sellable: what can be sold over the whole range)."""
    summary: dict[tuple, dict] = {}
    for r in capacity_by_hour(pool_ids=pool_ids, start=start, end=end, resource_class=resource_class):
        key = (r.pool_id, r.resource_class)
        s = summary.setdefault(
            key,
            {
                "pool_id": r.pool_id,
                "resource_class": r.resource_class,
                "installed": r.installed,
                "committed": 0,
                "offered": 0,
                "sellable": r.sellable,
            },
        )
        s["committed"] = max(s["committed"], r.committed)
        s["offered"] = max(s["offered"], r.offered)
        s["sellable"] = min(s["sellable"], r.sellable)
    return list(summary.values())


def standing_units_at(*, offers: dict[str, datetime], pool_ids) -> dict[str, int]:
    """For many standing offers at once (prefix → an instant), the units each still offers in
    the whole hour holding its instant (0 where it offers nothing then): what a buyer can take
    from it now, or from its first hour if it starts later. One query over the offers' open
    pieces (see ``catalog.services.standing``), whatever the number of offers."""
    if not offers:
        return {}
    hours = {prefix: hour_floor(at) for prefix, at in offers.items()}
    pieces = (
        CapacityCommitment.objects.open()
        .filter(kind=CommitmentKind.OFFERED, pool_id__in=list(pool_ids), source__contains="@")
        .filter(start__lte=max(hours.values()), end__gt=min(hours.values()))
        .values_list("source", "start", "end", "units")
    )
    out = dict.fromkeys(offers, 0)
    for source, start, end, units in pieces:
        prefix = source.rpartition("@")[0]
        hour = hours.get(prefix)
        if hour is not None and start <= hour < end:
            out[prefix] = units
    return out
