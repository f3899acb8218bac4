"""Capacity commitments: the only way units of a pool are held (grid-connection standard §4)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext

from catalog.capacity import sellable_by_pool, sellable_units
from catalog.locks import pool_lock, pools_lock
from catalog.models import (
    CapacityCommitment,
    CapacityLoad,
    CommitmentKind,
    Pool,
    PoolResource,
    PoolStatus,
)
from config.bulk import rows_update  # importing it registers the field__any lookup used below
from config.errors import Conflict, ExchangeError
from config.rows import insert_rows, rows_by, rows_insert


@transaction.atomic
def capacity_commit(
    *, pool_id: int, resource_class: str, kind: str, units: int, start: datetime, end: datetime, source: str
) -> CapacityCommitment:
    """Hold units of a pool's class for [start, end), refusing any that would make sellable
    negative in any hour. The pool row lock serialises racing sales of one pool. Idempotent by
    ``source``: a repeat with the same terms returns the open commitment."""
    if kind not in CommitmentKind.values:
        raise ValueError(kind)
    if units < 1 or end <= start:
        raise ExchangeError(
            gettext("Units must be at least 1 and the range must not be empty."), code="invalid_commitment"
        )
    pool = pool_lock(pool_id=pool_id)
    if pool is None:
        raise ExchangeError(gettext("No such pool."), code="not_found", status=404)
    existing = CapacityCommitment.objects.open().filter(source=source).first()
    if existing is not None:
        same = (
            existing.pool_id,
            existing.resource_class_id,
            existing.kind,
            existing.units,
            existing.start,
            existing.end,
        ) == (pool_id, resource_class, kind, units, start, end)
        if not same:
            raise Conflict(f"{source} already holds other capacity.")
        return existing
    free = sellable_units(pool_id=pool_id, resource_class=resource_class, start=start, end=end)
    if units > free:
        raise ExchangeError(
            gettext("Only %(free)s unit(s) of %(resource_class)s are free in %(pool)s for that time.")
            % {"free": free, "resource_class": resource_class, "pool": pool},
            code="insufficient_capacity",
        )
    return CapacityCommitment.objects.create(
        pool=pool, resource_class_id=resource_class, kind=kind, units=units, start=start, end=end, source=source
    )


@transaction.atomic
def capacity_release(*, source: str, at: datetime | None = None) -> int:
    """Release the open commitment named ``source``; returns how many rows it released (0 or 1)."""
    return CapacityCommitment.objects.open().filter(source=source).update(released_at=at or timezone.now())


_TERMS = ("pool_id", "resource_class_id", "kind", "units", "start", "end", "source", "created_at")
_MOVE_FIELDS = ("pk", *_TERMS[:-1])  # an open commitment as a move reads it: its key and terms


def capacity_lock_many(*, sources: list[str]) -> dict[str, tuple]:
    """The open commitments of these sources, locked, by source: what ``capacity_move_many``
    reads first, for a caller that takes its locks before other work (``locked=``)."""
    if not sources:
        return {}
    return {row[7]: row for row in rows_by(CapacityCommitment, _MOVE_FIELDS, "source", list(sources),
                                           open_only="released_at", lock=True)}  # fmt: skip


@transaction.atomic(savepoint=False)
def capacity_move_many(
    *,
    moves: list[tuple[str, str, int]],
    kind: str,
    at: datetime | None = None,
    new_targets: bool = False,
    locked: dict[str, tuple] | None = None,
) -> None:
    """Move units between open commitments of the same pool, class and range — an offered sell
    order's units becoming a contract's, a contract's passing to a resale's buyer — for a batch:
    each (from source, to source, units), applied together. Sellable capacity does not change, so
    no sellable check; the moved-from commitments are replaced once by what they keep, the
    moved-to created (or grown) once. ``new_targets``: the caller knows no moved-to source is
    open yet (a contract made in the same transaction), so they are not looked up; the unique
    index on open sources would refuse one that is. ``locked``: the moved-from sources' open
    commitments as ``capacity_lock_many`` gave them in this transaction (else read here)."""
    if not moves:
        return
    if kind not in CommitmentKind.values:
        raise ValueError(kind)
    kind = CommitmentKind(kind).value
    at = at or timezone.now()
    taken: dict[str, int] = defaultdict(int)
    given: dict[tuple[str, str], int] = defaultdict(int)
    for from_source, to_source, units in moves:
        taken[from_source] += units
        given[(to_source, from_source)] += units
    olds = locked if locked is not None and taken.keys() <= locked.keys() else capacity_lock_many(sources=list(taken))
    for source, units in taken.items():
        if source not in olds or units > olds[source][4]:
            raise ExchangeError(
                gettext("%(source)s does not hold %(units)s unit(s).") % {"source": source, "units": units},
                code="insufficient_capacity",
            )
    targets = {} if new_targets else capacity_lock_many(sources=list({to for to, _ in given}))
    # what the moved-from keep and the moved-to hold, worked out before the writes (within
    # copies_unawaited this runs while an earlier COPY finishes)
    froms = sorted((olds[source] for source in taken), key=lambda row: row[0])
    fresh = [
        (pool, cls, kind_, units - taken[source], start, end, source, at)
        for _, pool, cls, kind_, units, start, end, source in froms
        if units > taken[source]
    ]
    totals: dict[str, list] = {}
    for (to_source, from_source), units in given.items():
        old = olds[from_source]
        if to_source not in totals:
            totals[to_source] = [old, targets[to_source][4] if to_source in targets else 0]
        totals[to_source][1] += units
    for to_source, (old, units) in totals.items():
        target = targets.get(to_source)
        if target is not None and (target[1], target[2], target[5], target[6]) != (old[1], old[2], old[5], old[6]):
            raise Conflict(f"{to_source} already holds other capacity.")
        fresh.append((old[1], old[2], kind, units, old[5], old[6], to_source, at))
    replaced = [row[0] for row in froms] + [row[0] for row in targets.values()]
    rows_update(CapacityCommitment, ["released_at"], [(pk, at) for pk in replaced])
    rows_insert(CapacityCommitment, list(_TERMS), fresh)


def _load_fold(cursor, where: str = "TRUE", params: tuple | list = ()) -> int:
    """Fold the capacity load's rows that ``where`` picks into one per key, dropping keys whose
    sum is nothing; the number of rows written. What it deletes it sums back in the same
    statement, and rows another transaction holds (folding them itself) are skipped, not waited
    for: each row is folded once, the sums stay what they were, and nothing waits."""
    key = 'pool_id, resource_class_id, start, "end"'
    table = cursor.db.ops.quote_name(CapacityLoad._meta.db_table)
    cursor.execute(
        f"WITH gone AS (DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {where} "  # noqa: S608 (model metadata)
        f"FOR UPDATE SKIP LOCKED) RETURNING {key}, units) "
        f"INSERT INTO {table} ({key}, units) SELECT {key}, SUM(units) FROM gone GROUP BY {key} HAVING SUM(units) <> 0",
        params,
    )
    return cursor.rowcount


def capacity_load_compact() -> int:
    """Fold the capacity load's rows (``CapacityLoad``: a row per statement and key that changed a
    sum) into one per key; the number of rows now (``_load_fold``; rows written meanwhile stay as
    they are). PostgreSQL only (elsewhere there is no load)."""
    connection = connections[router.db_for_write(CapacityLoad)]
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        return _load_fold(cursor)


def capacity_load_fold(*, resource_class: str, keys: list[tuple[int, datetime, datetime]]) -> None:
    """Fold the load rows of these keys (pool id, start, end) into one row each, in the caller's
    transaction (``_load_fold``), so that the sells after it read a few rows, not one per statement
    since the last compaction."""
    which = " OR ".join(['(pool_id = %s AND start = %s AND "end" = %s)'] * len(keys))
    with connections[router.db_for_write(CapacityLoad)].cursor() as cursor:
        _load_fold(cursor, f"resource_class_id = %s AND ({which})", [resource_class, *(v for key in keys for v in key)])


@transaction.atomic(savepoint=False)
def capacity_release_many(*, sources: list[str], at: datetime | None = None) -> int:
    if not sources:
        return 0
    return CapacityCommitment.objects.open().filter(source__any=sources).update(released_at=at or timezone.now())


@dataclass(frozen=True)
class Offer:
    source: str
    pool_id: int
    resource_class: str
    units: int
    start: datetime
    end: datetime


@dataclass
class Supply:
    """A provider's connected pools with units of a class in a region and tier, locked in the
    caller's transaction by ``capacity_supply_lock``, and what each can still sell over the range
    (pool id → units, in primary-key order). Valid until that transaction ends."""

    resource_class: str
    start: datetime
    end: datetime
    sellable: dict[int, int]


def capacity_supply_lock(
    *, provider, region: str, tier: str, resource_class: str, start: datetime, end: datetime
) -> Supply:
    """Lock the provider's connected pools that have ``resource_class`` in ``region``/``tier``
    (primary-key order, one query) and sum what each can still sell over [start, end), for a
    caller offering units of them (``capacity_offer_many(supply=…)``)."""
    connection = connections[router.db_for_write(Pool)]
    lock = " FOR NO KEY UPDATE OF p" if connection.features.has_select_for_no_key_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.id, r.units FROM {Pool._meta.db_table} p "  # noqa: S608
            f"JOIN {PoolResource._meta.db_table} r ON r.pool_id = p.id "
            "WHERE p.provider_id = %s AND p.status = %s AND p.region_id = %s AND p.tier = %s "
            f"AND r.resource_class_id = %s ORDER BY p.id{lock}",
            [provider.pk, PoolStatus.CONNECTED.value, region, tier, resource_class],
        )
        installed = dict(cursor.fetchall())
    crowded = []
    sellable = sellable_by_pool(
        installed=installed, resource_class=resource_class, start=start, end=end, crowded=crowded
    )
    if crowded:
        capacity_load_fold(resource_class=resource_class, keys=crowded)
    return Supply(resource_class, start, end, sellable)


@transaction.atomic(savepoint=False)
def capacity_offer_many(
    *, offers: list[Offer], kind: str = CommitmentKind.OFFERED, supply: Supply | None = None
) -> None:
    """``capacity_commit`` for many commitments at once: every pool's sellable units checked
    against all its new commitments together — all or nothing (``insufficient_capacity``).

    With ``supply`` (pools this transaction locked with ``capacity_supply_lock``), the check is
    against its sellable units, which then shrink by what was offered; without it, the pools are
    locked here, in primary-key order, and their sellable units summed again. The caller decides
    what fits beforehand; this refuses what does not."""
    if not offers:
        return
    wanted: dict[tuple, int] = defaultdict(int)
    for o in offers:
        if o.units < 1 or o.end <= o.start:
            raise ExchangeError(
                gettext("Units must be at least 1 and the range must not be empty."), code="invalid_commitment"
            )
        wanted[(o.pool_id, o.resource_class, o.start, o.end)] += o.units
    if supply is not None:
        for (pool_id, resource_class, start, end), units in wanted.items():
            if (resource_class, start, end) != (supply.resource_class, supply.start, supply.end):
                raise ValueError("an offer outside the supply locked")
            free = supply.sellable.get(pool_id, 0)
            if units > free:
                raise ExchangeError(
                    gettext("Only %(free)s unit(s) of %(resource_class)s are free in pool %(pool)s for that time.")
                    % {"free": free, "resource_class": resource_class, "pool": pool_id},
                    code="insufficient_capacity",
                )
        for (pool_id, *_), units in wanted.items():
            supply.sellable[pool_id] -= units
    else:
        pools_lock(pool_ids=[o.pool_id for o in offers])
        for (pool_id, resource_class, start, end), units in wanted.items():
            free = sellable_units(pool_id=pool_id, resource_class=resource_class, start=start, end=end)
            if units > free:
                raise ExchangeError(
                    gettext("Only %(free)s unit(s) of %(resource_class)s are free in pool %(pool)s for that time.")
                    % {"free": free, "resource_class": resource_class, "pool": pool_id},
                    code="insufficient_capacity",
                )
    now = timezone.now()
    insert_rows(
        CapacityCommitment,
        ["pool_id", "resource_class_id", "kind", "units", "start", "end", "source", "created_at", "released_at"],
        [(o.pool_id, o.resource_class, kind, o.units, o.start, o.end, o.source, now, None) for o in offers],
    )
