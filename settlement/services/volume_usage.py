"""Reading a buyer's per-volume usage for the rating engine (trading standard §6.2, §7): the
records overlapping a billing month, as ``(start µs, end µs, quantity)`` rows grouped by what
they are rated by (``VolumeKey``), ready for ``VolumeUsage.add_many``.

Two readers give the engine the same sums, so the invoice's lines do not depend on the database:

- ``volume_rows_orm`` (any database; SQLite, the zero-setup one): every record through the ORM,
  converted in Python;
- ``volume_rows_sql`` (PostgreSQL; a month of a large buyer is a million records): one query a
  region, streamed from a server-side cursor. Instants come back as integer microseconds, computed
  exactly by the server (see ``_ROWS``). A record lying inside one time-of-use block of the
  period — about half of them — is not sent at all: such records are summed per block in SQL (an
  exact ``numeric`` sum) and the sum is sent as one row from the earliest start to the latest end
  among them, which lies inside the same block, so the engine adds exactly the same quantity to
  exactly the same block as it would record by record. Records crossing a block edge or the
  period's bounds come back one by one, for the engine to cut.

Both assume what ingestion guarantees: a record's buyer is its reservation's buyer.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from operator import itemgetter

from django.db import connection, transaction

from settlement.models import UsageRecord
from settlement.rating import Tariff, instant_us
from settlement.rating.inputs import DAY_US, HOUR_US, LOCAL_OFFSET_US

Row = tuple[int, int, Decimal]


@dataclass(frozen=True)
class VolumeKey:
    """What per-volume usage is rated by: a product (class, region, tier, billing) at one posted
    price from one provider. Tiers cumulate per key (docs/standards.md)."""

    resource_class: str
    region: str
    tier: str
    price: Decimal
    provider_id: int

    @property
    def product(self) -> str:
        return f"{self.resource_class}.{self.region}.{self.tier}.retail.volume"


def volume_rows_orm(
    *, buyer_id: int, start: datetime, end: datetime, received_until: datetime | None = None
) -> Iterator[tuple[VolumeKey, list[Row]]]:
    """The buyer's per-volume records overlapping [start, end), every one through the ORM."""
    records = UsageRecord.objects.filter(
        buyer_id=buyer_id, reservation__billing="per_volume", start__lt=end, end__gt=start
    )
    if received_until is not None:
        records = records.filter(received_at__lte=received_until)
    rows = records.values_list(
        "reservation__listing__resource_class_id",
        "reservation__pool__region_id",
        "reservation__pool__tier",
        "reservation__price",
        "reservation__listing__provider_id",
        "start",
        "end",
        "quantity",
    )
    usages: dict[VolumeKey, list[Row]] = defaultdict(list)
    for cls, region, tier, price, provider, first, last, quantity in rows.iterator(chunk_size=20_000):
        usages[VolumeKey(cls, region, tier, price, provider)].append((instant_us(first), instant_us(last), quantity))
    yield from usages.items()


def _runs(kinds: tuple[str, ...]) -> tuple[list[int], list[int]]:
    """For each local hour, where the run of hours of its kind around it starts and ends (µs
    after local midnight; runs end at midnight): the engine's time-of-use blocks."""
    starts, ends = [], []
    for hour in range(24):
        first, last = hour, hour + 1
        while first > 0 and kinds[first - 1] == kinds[hour]:
            first -= 1
        while last < 24 and kinds[last] == kinds[hour]:
            last += 1
        starts.append(first * HOUR_US)
        ends.append(last * HOUR_US)
    return starts, ends


# Per record: its instants as integer µs, then whether it lies inside one block of the period
# (it starts in the period and ends by the end of the block its start is in), and that block.
# The records inside a block are summed per block (an exact numeric sum); the others are sent
# one by one. Rows of one reservation come together in runs; the caller groups consecutive ones.
#
# Instants: µs after the period's start, plus the start's µs since the epoch. ``ts - start`` is
# an interval of whole days and µs, and ``date_part('epoch', …)`` a double within a few 1e-9 s of
# it for any record within years of the month, so rounding it × 1e6 (``::bigint`` rounds) gives
# the µs exactly — at a fraction of the cost of ``extract``'s numeric, which matters a million
# times. ``offset 0`` keeps the planner from inlining the subqueries and so computing them twice.
_ROWS = """
with blocked as materialized (
    select k, s, e, q, s >= %(first)s and e <= midnight + (%(run_ends)s::bigint[])[hour] as inside,
           midnight + (%(run_starts)s::bigint[])[hour] as block
    from (select k, s, e, q, s - (s + %(offset)s) %% %(day)s as midnight,
                 (s + %(offset)s) %% %(day)s / %(hour)s + 1 as hour
          from (select u.reservation_id as k,
                       %(first)s + (date_part('epoch', u.start - %(start)s) * 1000000)::bigint as s,
                       %(first)s + (date_part('epoch', u."end" - %(start)s) * 1000000)::bigint as e,
                       u.quantity as q
                from {usage} u
                where u.buyer_id = %(buyer)s and u.reservation_id = any(%(reservations)s)
                  and u.start < %(end)s and u."end" > %(start)s {received}
                offset 0) as instants
          offset 0) as placed
)
select k, s, e, q from blocked where inside is not true
union all
select k, min(s), max(e), sum(q) from blocked where inside group by k, block
"""


def volume_rows_sql(
    *,
    buyer_id: int,
    start: datetime,
    end: datetime,
    tariffs: dict[str, Tariff],
    received_until: datetime | None = None,
) -> Iterator[tuple[VolumeKey, Iterable[Row]]]:
    """The buyer's per-volume records overlapping [start, end) on PostgreSQL, records inside one
    time-of-use block summed per block by the database. Yields ``(key, rows)`` in runs: a key
    can come more than once, and each run's rows are read as the run is consumed."""
    from marketplace.models import Reservation  # marketplace builds on settlement, not the reverse

    keys: dict[int, VolumeKey] = {}
    by_region: defaultdict[str, list[int]] = defaultdict(list)
    reservations = Reservation.objects.filter(buyer_id=buyer_id, billing="per_volume").values_list(
        "pk", "listing__resource_class_id", "pool__region_id", "pool__tier", "price", "listing__provider_id"
    )
    for pk, *key in reservations:
        keys[pk] = VolumeKey(*key)
        by_region[keys[pk].region].append(pk)
    sql = _ROWS.format(  # noqa: S608 (the table's name and a fixed condition)
        usage=UsageRecord._meta.db_table,
        received="and u.received_at <= %(received_until)s" if received_until is not None else "",
    )
    first = instant_us(start)
    with transaction.atomic():  # a server-side cursor lives in a transaction
        connection.ensure_connection()
        raw = connection.connection  # psycopg's, for a server-side cursor
        # the planner's JIT compiles this query's expressions for seconds to save less than that
        raw.execute("set local jit = off")
        for region, ids in sorted(by_region.items()):
            run_starts, run_ends = _runs(tariffs[region].kinds)
            params = {"buyer": buyer_id, "reservations": ids, "start": start, "end": end, "first": first,
                      "offset": LOCAL_OFFSET_US, "day": DAY_US, "hour": HOUR_US, "run_starts": run_starts,
                      "run_ends": run_ends, "received_until": received_until}  # fmt: skip
            with raw.cursor(name="volume_rows") as cursor:
                cursor.execute(sql, params)  # text results: cheaper to load here than binary numerics
                while batch := cursor.fetchmany(50_000):  # a list a time: no Python call per row
                    for reservation_id, rows in groupby(batch, itemgetter(0)):
                        yield keys[reservation_id], map(itemgetter(1, 2, 3), rows)
