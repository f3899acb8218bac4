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
