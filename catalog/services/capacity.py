"""Capacity commitments: the only way units of a pool are held (grid-connection standard §4)."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from catalog.capacity import sellable_units
from catalog.locks import pool_lock
from catalog.models import (
    CapacityCommitment,
    CommitmentKind,
)
from config.errors import Conflict, ExchangeError


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
        raise ExchangeError("Units must be at least 1 and the range must not be empty.", code="invalid_commitment")
    pool = pool_lock(pool_id=pool_id)
    if pool is None:
        raise ExchangeError("No such pool.", code="not_found", status=404)
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
            f"Only {free} unit(s) of {resource_class} are free in {pool} for that time.", code="insufficient_capacity"
        )
    return CapacityCommitment.objects.create(
        pool=pool, resource_class_id=resource_class, kind=kind, units=units, start=start, end=end, source=source
    )


@transaction.atomic
def capacity_release(*, source: str, at: datetime | None = None) -> int:
    """Release the open commitment named ``source``; returns how many rows it released (0 or 1)."""
    return CapacityCommitment.objects.open().filter(source=source).update(released_at=at or timezone.now())


@transaction.atomic
def capacity_move(*, from_source: str, to_source: str, units: int, kind: str, at: datetime | None = None) -> None:
    """Move ``units`` of an open commitment to another, of the same pool, class and range: an
    offered sell order's units becoming a contract's, a contract's units passing to a resale's
    buyer. Sellable capacity does not change, so no sellable check; the moved-from commitment is
    replaced by one with fewer units (or none), the moved-to one created or grown."""
    if kind not in CommitmentKind.values:
        raise ValueError(kind)
    at = at or timezone.now()
    old = CapacityCommitment.objects.open().select_for_update().filter(source=from_source).first()
    if old is None or not 0 < units <= old.units:
        raise ExchangeError(f"{from_source} does not hold {units} unit(s).", code="insufficient_capacity")
    terms = {"pool_id": old.pool_id, "resource_class_id": old.resource_class_id, "start": old.start, "end": old.end}
    old.released_at = at
    old.save(update_fields=["released_at"])
    if old.units > units:
        CapacityCommitment.objects.create(kind=old.kind, units=old.units - units, source=from_source, **terms)
    target = CapacityCommitment.objects.open().select_for_update().filter(source=to_source).first()
    if target is not None:
        if (target.pool_id, target.resource_class_id, target.start, target.end, target.kind) != (
            *terms.values(),
            kind,
        ):
            raise Conflict(f"{to_source} already holds other capacity.")
        target.released_at = at
        target.save(update_fields=["released_at"])
        units += target.units
    CapacityCommitment.objects.create(kind=kind, units=units, source=to_source, **terms)
