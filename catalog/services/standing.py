"""Standing offers: units offered for a long range (a retail listing) and sold off it in parts.

A sell order offers one block for one window and sells it whole or in units of the same window,
so ``capacity_move_many`` can move units between rows of the same range. A listing offers, say,
16 units for a month, and each reservation takes some units for a few hours of it. The offer is
therefore kept as *pieces*: open ``offered`` commitments named ``<prefix>@<UTC hour>``, disjoint,
on whole hours, each with the units still offered in its hours. Drawing a reservation takes its
units out of the pieces over its hours and commits them under the reservation's own source, so
sellable (installed − committed − offered) never changes by a draw: what the listing offered is
what it sells, and wholesale asks and contracts can never have taken it meanwhile.

Every function here runs under the pool's row lock, like every other sale of the pool.
"""

import os
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from catalog.capacity import HOUR, MAX_HOURS, hour_ceil, hour_floor
from catalog.locks import pools_lock
from catalog.models import CapacityCommitment, CommitmentKind
from catalog.services.capacity import Offer, capacity_offer_many
from config.errors import Conflict, ExchangeError


def _piece_source(prefix: str, start: datetime) -> str:
    return f"{prefix}@{start:%Y%m%d%H}"


def _pieces(prefix: str, *, start: datetime, end: datetime) -> list[CapacityCommitment]:
    return list(
        CapacityCommitment.objects.open()
        .select_for_update(of=("self",))
        .filter(source__startswith=f"{prefix}@", kind=CommitmentKind.OFFERED)
        .overlapping(start, end)
        .order_by("start")
    )


def standing_hours(*, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole hours a range holds: a part of an hour holds that hour."""
    return hour_floor(start), hour_ceil(end)


@transaction.atomic(savepoint=False)
def capacity_offer_standing(
    *, prefix: str, pool_id: int, resource_class: str, units: int, start: datetime, end: datetime
) -> None:
    """Offer ``units`` of a pool's class for the whole hours of [start, end), refused
    (``insufficient_capacity``) unless the pool can sell them in every hour."""
    first, last = standing_hours(start=start, end=end)
    if (last - first) / HOUR > MAX_HOURS:
        raise ExchangeError(
            gettext("A standing offer covers at most %(hours)s hours.") % {"hours": MAX_HOURS},
            code="invalid_commitment",
        )
    capacity_offer_many(
        offers=[Offer(_piece_source(prefix, first), pool_id, resource_class, units, first, last)],
    )


def _reshape(
    *, prefix: str, pool_id: int, resource_class: str, first: datetime, last: datetime, delta: int, at: datetime
) -> None:
    """Add ``delta`` units to the offer in every hour of [first, last), rewriting the pieces that
    cover or touch those hours as runs of equal units (so the offer does not fragment)."""
    touching = _pieces(prefix, start=first - HOUR, end=last + HOUR)
    touching = [p for p in touching if p.end >= first and p.start <= last]
    lo = min([first, *(p.start for p in touching)])
    hi = max([last, *(p.end for p in touching)])
    hours = int((hi - lo) / HOUR)
    units = [0] * hours
    for p in touching:
        for i in range(int((p.start - lo) / HOUR), int((p.end - lo) / HOUR)):
            units[i] = p.units
    for i in range(int((first - lo) / HOUR), int((last - lo) / HOUR)):
        units[i] += delta
        if units[i] < 0:
            raise ExchangeError(gettext("The offer does not hold these units."), code="insufficient_capacity")
    CapacityCommitment.objects.filter(pk__in=[p.pk for p in touching]).update(released_at=at)
    runs, i = [], 0
    while i < hours:
        j = i
        while j < hours and units[j] == units[i]:
            j += 1
        if units[i] > 0:
            start = lo + i * HOUR
            runs.append(
                CapacityCommitment(pool_id=pool_id, resource_class_id=resource_class, kind=CommitmentKind.OFFERED,
                                   units=units[i], start=start, end=lo + j * HOUR, source=_piece_source(prefix, start))
            )  # fmt: skip
        i = j
    CapacityCommitment.objects.bulk_create(runs)


def standing_free(*, prefix: str, start: datetime, end: datetime) -> int:
    """The fewest units the standing offer still has in any whole hour of [start, end) (0 where
    it offers nothing)."""
    first, last = standing_hours(start=start, end=end)
    return min(standing_free_by_hour(prefixes=[prefix], start=first, end=last)[prefix], default=0)


def standing_free_by_hour(*, prefixes, start: datetime, end: datetime) -> dict[str, list[int]]:
    """For each standing offer, the units it still has in each whole hour of [start, end): hour i
    is [floor(start) + i h, +1 h) (0 where it offers nothing). One query for all the offers (a
    scheduling round reads every open listing's hours at once)."""
    first, last = standing_hours(start=start, end=end)
    hours = int((last - first) / HOUR)
    free = {prefix: [0] * hours for prefix in prefixes}
    if not free or hours <= 0:
        return free
    pieces = CapacityCommitment.objects.open().filter(kind=CommitmentKind.OFFERED).overlapping(first, last)
    if len(free) <= 20:
        condition = Q()
        for prefix in free:
            condition |= Q(source__startswith=f"{prefix}@")
    else:  # many offers (a round reads them all): their common stem, the rest dropped below
        condition = Q(source__startswith=os.path.commonprefix(list(free)))
    for source, p_start, p_end, units in pieces.filter(condition).values_list("source", "start", "end", "units"):
        row = free.get(source.rsplit("@", 1)[0])
        if row is None:
            continue
        for i in range(max(0, int((p_start - first) / HOUR)), min(hours, int((p_end - first) / HOUR))):
            row[i] = units
    return free


@transaction.atomic(savepoint=False)
def capacity_draw(
    *, prefix: str, pool_id: int, resource_class: str, source: str, units: int, start: datetime, end: datetime
) -> CapacityCommitment:
    """Sell ``units`` off a standing offer for [start, end): refused (``insufficient_capacity``)
    unless the offer has them in every hour the range touches; they leave the offer and are
    committed under ``source``. A repeat with the same source and terms returns the commitment."""
    pools_lock(pool_ids=[pool_id])
    existing = CapacityCommitment.objects.open().filter(source=source).first()
    if existing is not None:
        if (existing.pool_id, existing.units, existing.start, existing.end) != (pool_id, units, start, end):
            raise Conflict(f"{source} already holds other capacity.")
        return existing
    free = standing_free(prefix=prefix, start=start, end=end)
    if units > free:
        raise ExchangeError(
            gettext("Only %(free)s unit(s) are free for that time.") % {"free": free}, code="insufficient_capacity"
        )
    first, last = standing_hours(start=start, end=end)
    now = timezone.now()
    _reshape(prefix=prefix, pool_id=pool_id, resource_class=resource_class, first=first, last=last, delta=-units,
             at=now)  # fmt: skip
    return CapacityCommitment.objects.create(
        pool_id=pool_id, resource_class_id=resource_class, kind=CommitmentKind.COMMITTED, units=units,
        start=start, end=end, source=source,
    )  # fmt: skip


@transaction.atomic(savepoint=False)
def capacity_undraw(*, prefix: str | None, source: str, cut: datetime) -> None:
    """End a drawn commitment at ``cut`` (its start or later): it keeps [start, cut) committed —
    nothing if ``cut`` is its start — and the whole hours after ``cut`` go back to the standing
    offer (``prefix``), or to the pool's sellable units if the offer was withdrawn (None)."""
    row = CapacityCommitment.objects.open().select_for_update(of=("self",)).filter(source=source).first()
    if row is None:
        return
    pools_lock(pool_ids=[row.pool_id])
    cut = min(max(cut, row.start), row.end)
    now = timezone.now()
    row.released_at = now
    row.save(update_fields=["released_at"])
    if cut > row.start:
        CapacityCommitment.objects.create(
            pool_id=row.pool_id, resource_class_id=row.resource_class_id, kind=row.kind, units=row.units,
            start=row.start, end=cut, source=source,
        )  # fmt: skip
        back_from = hour_ceil(cut)
    else:
        back_from = hour_floor(row.start)
    back_to = hour_ceil(row.end)
    if prefix is not None and back_to > back_from:
        _reshape(prefix=prefix, pool_id=row.pool_id, resource_class=row.resource_class_id, first=back_from,
                 last=back_to, delta=row.units, at=now)  # fmt: skip


@transaction.atomic(savepoint=False)
def capacity_withdraw_standing(*, prefix: str) -> int:
    """Stop offering: every piece is released, so its units are the pool's to sell again. Units
    already drawn stay committed. Returns how many pieces were released."""
    return (
        CapacityCommitment.objects.open()
        .filter(source__startswith=f"{prefix}@", kind=CommitmentKind.OFFERED)
        .update(released_at=timezone.now())
    )
