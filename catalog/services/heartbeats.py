"""Heartbeats (grid-connection standard §3): idempotent by (pool, ts); the current one connects."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.locks import pool_lock
from catalog.models import (
    Health,
    Heartbeat,
    Pool,
    PoolKey,
    PoolStatus,
)
from catalog.services.pools import _recently_heard, _transition
from config.errors import Conflict, ExchangeError, NotAllowed


@dataclass(frozen=True)
class HeartbeatResult:
    heartbeat: Heartbeat
    created: bool


def _heartbeat_errors(*, pool: Pool, ts, available, health) -> dict:
    errors: dict[str, list] = {}
    limit = timedelta(seconds=settings.SUANLI_HEARTBEAT_FUTURE_TOLERANCE_SECONDS)
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        errors["ts"] = [{"code": "invalid", "detail": "An ISO 8601 time with an offset."}]
    elif ts > timezone.now() + limit:
        errors["ts"] = [{"code": "ts_in_future", "detail": "The time is in the future."}]
    if health not in Health.values:
        errors["health"] = [{"code": "invalid_choice", "detail": f"One of {', '.join(Health.values)}."}]
    installed = dict(pool.resources.values_list("resource_class_id", "units"))
    if not isinstance(available, dict):
        errors["available"] = [{"code": "invalid_type", "detail": "An object {class: units}."}]
    else:
        for cls, units in available.items():
            if cls not in installed:
                errors.setdefault(f"available.{cls}", []).append(
                    {"code": "unknown_class", "detail": "This pool has no units of that class."}
                )
            elif isinstance(units, bool) or not isinstance(units, int) or not 0 <= units <= installed[cls]:
                errors.setdefault(f"available.{cls}", []).append(
                    {"code": "out_of_range", "detail": f"A whole number from 0 to {installed[cls]}."}
                )
    return errors


def _repeat(existing: Heartbeat, *, available: dict, health: str) -> HeartbeatResult:
    if existing.available != available or existing.health != health:
        raise Conflict("A different heartbeat with this ts was already received.")
    return HeartbeatResult(existing, created=False)


@transaction.atomic
def heartbeat_record(*, pool_key: PoolKey, pool_id: int, ts: datetime, available: dict, health: str) -> HeartbeatResult:
    """Store a heartbeat, idempotent by (pool, ts); the first one connects a verified pool.

    A pool suspended for silence reconnects on its next heartbeat; one the operator suspended
    stays suspended until the operator resumes it.
    """
    if pool_key.pool_id != pool_id or not pool_key.is_active:
        raise NotAllowed("This key is not a key of that pool.", code="wrong_pool")
    # A repeat of a stored heartbeat is answered without the pool lock and changes nothing.
    existing = Heartbeat.objects.filter(pool_id=pool_id, ts=ts).first()
    if existing is not None:
        return _repeat(existing, available=available, health=health)
    pool = pool_lock(pool_id=pool_id)
    if pool is None:
        raise ExchangeError("No such pool.", code="not_found", status=404)
    if pool.status == PoolStatus.APPLIED:
        raise Conflict("The pool is not verified yet.", code="pool_not_verified")
    if pool.status == PoolStatus.DISCONNECTED:
        raise Conflict("The pool is disconnected.", code="pool_disconnected")
    errors = _heartbeat_errors(pool=pool, ts=ts, available=available, health=health)
    if errors:
        raise ExchangeError("The heartbeat is not valid.", fields=errors)
    existing = Heartbeat.objects.filter(pool=pool, ts=ts).first()  # arrived while we waited for the lock
    if existing is not None:
        return _repeat(existing, available=available, health=health)
    beat = Heartbeat.objects.create(pool=pool, ts=ts, available=available, health=health)
    if pool.last_heartbeat_at is None or ts > pool.last_heartbeat_at:
        pool.last_heartbeat_at = ts
        pool.save(update_fields=["last_heartbeat_at", "updated_at"])
    # Only a current heartbeat connects: a stale one (a machine's backlog) is stored for the SLA
    # record but would only make the pool flap between connected and suspended.
    current = ts == pool.last_heartbeat_at and _recently_heard(pool, now=timezone.now())
    if current and pool.status == PoolStatus.VERIFIED:
        _transition(pool=pool, to_status=PoolStatus.CONNECTED, actor=None, reason_code="first_heartbeat")
    elif current and pool.status == PoolStatus.SUSPENDED:
        last = pool.transitions.order_by("-id").first()
        if last is not None and last.reason_code == "heartbeat_timeout":
            _transition(pool=pool, to_status=PoolStatus.CONNECTED, actor=None, reason_code="heartbeat_resumed")
    PoolKey.objects.filter(pk=pool_key.pk).update(last_used_at=timezone.now())
    return HeartbeatResult(beat, created=True)
