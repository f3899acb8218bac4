"""Operations that write catalog and grid-connection data. Every interface calls these."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.keys import key_generate
from accounts.models import Membership, Organisation, User
from accounts.selectors import user_is_operator
from accounts.services import audit_record
from catalog.capacity import sellable_units
from catalog.descriptor import descriptor_errors
from catalog.locks import pool_lock
from catalog.models import (
    POOL_TRANSITIONS,
    CapacityCommitment,
    CommitmentKind,
    Health,
    Heartbeat,
    Pool,
    PoolKey,
    PoolResource,
    PoolStatus,
    PoolTransition,
    Region,
    ResourceClass,
    TouPeriod,
)
from catalog.selectors import pool_descriptor_schema
from config.errors import Conflict, ExchangeError, NotAllowed

POOL_KEY_KIND = "pk"
SILENCE_SUSPENDS_AFTER = timedelta(minutes=15)  # grid-connection standard §2
REFERENCE_DATA_DIR = Path(settings.BASE_DIR) / "data"


# --- reference data ---------------------------------------------------------------------------


@transaction.atomic
def reference_data_load(*, directory: Path = REFERENCE_DATA_DIR) -> dict[str, int]:
    """Load resource classes, regions and time-of-use multipliers from the JSON files.

    Idempotent: rows are created or updated by code, none are deleted.
    """
    classes = json.loads((directory / "resource-classes.json").read_text(encoding="utf-8"))
    regions = json.loads((directory / "regions.json").read_text(encoding="utf-8"))
    for kind, multiplier in regions["tou_multipliers"].items():
        TouPeriod.objects.update_or_create(kind=kind, defaults={"multiplier": Decimal(multiplier)})
    for c in classes["classes"]:
        ResourceClass.objects.update_or_create(
            code=c["code"],
            defaults={
                "kind": c["kind"],
                "vendor": c["vendor"],
                "unit": c["unit"],
                "tick": Decimal(c["tick"]),
                "lot": c["lot"],
                "fp16_tflops": None if c["fp16_tflops"] is None else Decimal(str(c["fp16_tflops"])),
                "unit_power_kw": Decimal(c["unit_power_kw"]),
                "unit_capex_cny": Decimal(c["unit_capex_cny"]),
                "opex_per_hour_cny": Decimal(c["opex_per_hour_cny"]),
                "meter": c["meter"],
            },
        )
    for r in regions["regions"]:
        Region.objects.update_or_create(
            code=r["code"],
            defaults={
                "name_zh": r["name_zh"],
                "name_en": r["name_en"],
                "clusters": r["clusters"],
                "flat_price_per_kwh": Decimal(r["flat_price_per_kwh"]),
                "pue": Decimal(r["pue"]),
                "carbon_kg_per_kwh": Decimal(r["carbon_kg_per_kwh"]),
                "rtt_ms": r["rtt_ms"],
                "tou_by_local_hour": r["tou_by_local_hour"],
                "western_hub": r["western_hub"],
            },
        )
    return {
        "classes": len(classes["classes"]),
        "regions": len(regions["regions"]),
        "tou_periods": len(regions["tou_multipliers"]),
    }


# --- pools: application and life cycle --------------------------------------------------------


def _writer(*, actor: User, organisation: Organisation) -> None:
    membership = Membership.objects.filter(user=actor, organisation=organisation).first()
    if membership is None or not membership.can_write:
        raise NotAllowed("You cannot change this organisation's pools.", code="role_required")


def _to_decimal(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@transaction.atomic
def pool_apply(*, actor: User, organisation: Organisation, descriptor: dict) -> Pool:
    """A provider applies to connect a pool (grid-connection standard §1-2): status ``applied``."""
    if not organisation.is_provider:
        raise NotAllowed("Only provider organisations connect pools.", code="not_a_provider")
    _writer(actor=actor, organisation=organisation)
    errors = descriptor_errors(descriptor, pool_descriptor_schema())
    if not errors and Pool.objects.for_org(organisation).filter(code=descriptor["code"]).exists():
        errors["code"] = [{"code": "duplicate", "detail": "You already have a pool with this code."}]
    if errors:
        raise ExchangeError("The pool descriptor is not valid.", code="invalid_descriptor", fields=errors)
    d = descriptor
    try:
        with transaction.atomic():
            pool = Pool.objects.create(
                provider=organisation,
                code=d["code"],
                name=d["name"].strip(),
                region_id=d["region"],
                tier=d["tier"],
                city=d["city"].strip(),
                latitude=_to_decimal(d["location"]["latitude"]),
                longitude=_to_decimal(d["location"]["longitude"]),
                rtt_ms=_to_decimal(d["rtt_ms"]),
                pue=_to_decimal(d["pue"]),
                green_power_share=_to_decimal(d["green_power_share"]),
                security_level=d["security_level"],
                data_residency=d["data_residency"],
            )
    except IntegrityError as exc:  # a concurrent application took the code
        raise ExchangeError(
            "The pool descriptor is not valid.",
            code="invalid_descriptor",
            fields={"code": [{"code": "duplicate", "detail": "You already have a pool with this code."}]},
        ) from exc
    PoolResource.objects.bulk_create(
        PoolResource(pool=pool, resource_class_id=r["class"], units=r["units"]) for r in d["resources"]
    )
    _record_transition(
        pool=pool,
        from_status="",
        to_status=PoolStatus.APPLIED,
        actor=actor,
        reason_code="application",
        reason="",
        at=timezone.now(),
    )
    audit_record(actor=actor, action="pool.apply", organisation=organisation, target=str(pool))
    return pool


def _record_transition(
    *, pool: Pool, from_status: str, to_status: str, actor, reason_code: str, reason: str, at: datetime
) -> PoolTransition:
    return PoolTransition.objects.create(
        pool=pool,
        from_status=from_status,
        to_status=to_status,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=str(actor) if actor is not None and actor.is_authenticated else "system",
        reason_code=reason_code,
        reason=reason,
        at=at,
    )


def _transition(
    *, pool: Pool, to_status: str, actor, reason_code: str, reason: str = "", at: datetime | None = None
) -> PoolTransition:
    """Move a locked pool to ``to_status`` if the life cycle allows it, and record the step."""
    if to_status not in POOL_TRANSITIONS[pool.status]:
        raise Conflict(
            f"A pool that is {pool.status} cannot become {to_status}.",
            code="invalid_transition",
            fields={
                "status": [{"code": "invalid_transition", "detail": f"{pool.status} → {to_status} is not allowed."}]
            },
        )
    at = at or timezone.now()
    step = _record_transition(
        pool=pool,
        from_status=pool.status,
        to_status=to_status,
        actor=actor,
        reason_code=reason_code,
        reason=reason,
        at=at,
    )
    pool.status = to_status
    pool.save(update_fields=["status", "updated_at"])
    return step


def _operator_pool(*, actor: User, pool_id: int) -> Pool:
    if not user_is_operator(user=actor, acting=True):
        raise NotAllowed("Only operators (not viewers) act on pools.", code="operator_required")
    pool = pool_lock(pool_id=pool_id)
    if pool is None:
        raise ExchangeError("No such pool.", code="not_found", status=404)
    return pool


def _required_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ExchangeError(
            "Say why.",
            code="reason_required",
            fields={"reason": [{"code": "required", "detail": "A reason is required."}]},
        )
    return reason


@transaction.atomic
def pool_verify(*, actor: User, pool_id: int, reason: str = "") -> Pool:
    """The operator verifies an applied pool; its first heartbeat then connects it."""
    pool = _operator_pool(actor=actor, pool_id=pool_id)
    _transition(
        pool=pool, to_status=PoolStatus.VERIFIED, actor=actor, reason_code="operator_verified", reason=reason.strip()
    )
    audit_record(actor=actor, action="pool.verify", organisation=pool.provider, target=str(pool), reason=reason)
    return pool


@transaction.atomic
def pool_suspend(*, actor: User, pool_id: int, reason: str) -> Pool:
    reason = _required_reason(reason)
    pool = _operator_pool(actor=actor, pool_id=pool_id)
    _transition(pool=pool, to_status=PoolStatus.SUSPENDED, actor=actor, reason_code="operator_suspended", reason=reason)
    audit_record(actor=actor, action="pool.suspend", organisation=pool.provider, target=str(pool), reason=reason)
    return pool


@transaction.atomic
def pool_resume(*, actor: User, pool_id: int, reason: str) -> Pool:
    reason = _required_reason(reason)
    pool = _operator_pool(actor=actor, pool_id=pool_id)
    if pool.status != PoolStatus.SUSPENDED:
        raise Conflict(f"Only a suspended pool can be resumed; this one is {pool.status}.", code="invalid_transition")
    if not _recently_heard(pool, now=timezone.now()):
        raise Conflict(
            "The pool has sent no heartbeat in the last 15 minutes; it can be resumed once it reports again.",
            code="pool_silent",
        )
    _transition(pool=pool, to_status=PoolStatus.CONNECTED, actor=actor, reason_code="operator_resumed", reason=reason)
    audit_record(actor=actor, action="pool.resume", organisation=pool.provider, target=str(pool), reason=reason)
    return pool


@transaction.atomic
def pool_reject(*, actor: User, pool_id: int, reason: str) -> Pool:
    """The operator refuses an application: applied → disconnected."""
    reason = _required_reason(reason)
    pool = _operator_pool(actor=actor, pool_id=pool_id)
    if pool.status != PoolStatus.APPLIED:
        raise Conflict("Only an application can be rejected.", code="invalid_transition")
    _transition(
        pool=pool, to_status=PoolStatus.DISCONNECTED, actor=actor, reason_code="operator_rejected", reason=reason
    )
    audit_record(actor=actor, action="pool.reject", organisation=pool.provider, target=str(pool), reason=reason)
    return pool


@transaction.atomic
def pool_withdraw(*, actor: User, organisation: Organisation, pool_id: int, reason: str = "") -> Pool:
    """The provider disconnects its pool, once no contract or reservation needs it."""
    _writer(actor=actor, organisation=organisation)
    pool = pool_lock(pool_id=pool_id, provider=organisation)
    if pool is None:
        raise ExchangeError("No such pool.", code="not_found", status=404)
    needed = (
        CapacityCommitment.objects.open()
        .filter(pool=pool, kind=CommitmentKind.COMMITTED, end__gt=timezone.now())
        .count()
    )
    if needed:
        raise Conflict(f"{needed} contract(s) or reservation(s) still need this pool.", code="pool_in_use")
    _transition(
        pool=pool,
        to_status=PoolStatus.DISCONNECTED,
        actor=actor,
        reason_code="provider_withdrew",
        reason=(reason or "").strip(),
    )
    CapacityCommitment.objects.open().filter(pool=pool).update(released_at=timezone.now())
    audit_record(actor=actor, action="pool.withdraw", organisation=organisation, target=str(pool), reason=reason)
    return pool


def _recently_heard(pool: Pool, *, now: datetime) -> bool:
    return pool.last_heartbeat_at is not None and pool.last_heartbeat_at > now - SILENCE_SUSPENDS_AFTER


def pools_suspend_silent(*, now: datetime | None = None) -> list[int]:
    """Suspend every connected pool whose last heartbeat is 15 minutes old or more (§2).

    Each pool is handled in its own short transaction under its row lock, re-checked there, so a
    heartbeat that arrives meanwhile wins and a repeated run changes nothing.
    """
    now = now or timezone.now()
    cutoff = now - SILENCE_SUSPENDS_AFTER
    candidates = list(
        Pool.objects.filter(status=PoolStatus.CONNECTED, last_heartbeat_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    suspended = []
    for pool_id in candidates:
        with transaction.atomic():
            pool = pool_lock(pool_id=pool_id)
            if pool is None or pool.status != PoolStatus.CONNECTED:
                continue
            if pool.last_heartbeat_at is not None and pool.last_heartbeat_at > cutoff:
                continue
            _transition(
                pool=pool,
                to_status=PoolStatus.SUSPENDED,
                actor=None,
                reason_code="heartbeat_timeout",
                reason=f"No heartbeat since {timezone.localtime(pool.last_heartbeat_at):%Y-%m-%d %H:%M:%S %z}.",
            )
            suspended.append(pool_id)
    return suspended


# --- heartbeats -------------------------------------------------------------------------------


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


@transaction.atomic
def heartbeat_record(*, pool_key: PoolKey, pool_id: int, ts: datetime, available: dict, health: str) -> HeartbeatResult:
    """Store a heartbeat, idempotent by (pool, ts); the first one connects a verified pool.

    A pool suspended for silence reconnects on its next heartbeat; one the operator suspended
    stays suspended until the operator resumes it.
    """
    if pool_key.pool_id != pool_id or not pool_key.is_active:
        raise NotAllowed("This key is not a key of that pool.", code="wrong_pool")
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
    existing = Heartbeat.objects.filter(pool=pool, ts=ts).first()
    if existing is not None:
        if existing.available != available or existing.health != health:
            raise Conflict("A different heartbeat with this ts was already received.")
        return HeartbeatResult(existing, created=False)
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


# --- machine keys -----------------------------------------------------------------------------


def _own_pool(*, actor: User, organisation: Organisation, pool_id: int) -> Pool:
    _writer(actor=actor, organisation=organisation)
    pool = pool_lock(pool_id=pool_id, provider=organisation)
    if pool is None:
        raise ExchangeError("No such pool.", code="not_found", status=404)
    if pool.status == PoolStatus.DISCONNECTED:
        raise Conflict("The pool is disconnected.", code="pool_disconnected")
    return pool


def _new_pool_key(*, pool: Pool, actor: User, name: str) -> tuple[PoolKey, str]:
    name = (name or "").strip() or "machine key"
    if len(name) > 80:
        raise ExchangeError(
            "Invalid name.", fields={"name": [{"code": "max_length", "detail": "At most 80 characters."}]}
        )
    new = key_generate(POOL_KEY_KIND)
    key = PoolKey.objects.create(pool=pool, name=name, lookup=new.lookup, digest=new.digest, created_by=actor)
    return key, new.plaintext


@transaction.atomic
def pool_key_create(*, actor: User, organisation: Organisation, pool_id: int, name: str) -> tuple[PoolKey, str]:
    pool = _own_pool(actor=actor, organisation=organisation, pool_id=pool_id)
    key, plaintext = _new_pool_key(pool=pool, actor=actor, name=name)
    audit_record(actor=actor, action="pool_key.create", organisation=organisation, target=f"{pool}:{key.lookup}")
    return key, plaintext


@transaction.atomic
def pool_key_revoke(*, actor: User, organisation: Organisation, pool_id: int, key_id: int) -> PoolKey:
    pool = _own_pool(actor=actor, organisation=organisation, pool_id=pool_id)
    key = PoolKey.objects.select_for_update().filter(pool=pool, pk=key_id).first()
    if key is None:
        raise ExchangeError("No such key.", code="not_found", status=404)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="pool_key.revoke", organisation=organisation, target=f"{pool}:{key.lookup}")
    return key


@transaction.atomic
def pool_key_rotate(*, actor: User, organisation: Organisation, pool_id: int, key_id: int) -> tuple[PoolKey, str]:
    """Replace a key: a new one is issued and the old one revoked in the same transaction."""
    pool = _own_pool(actor=actor, organisation=organisation, pool_id=pool_id)
    old = PoolKey.objects.select_for_update().filter(pool=pool, pk=key_id).first()
    if old is None:
        raise ExchangeError("No such key.", code="not_found", status=404)
    if old.revoked_at is not None:
        raise Conflict("This key was already revoked.", code="key_revoked")
    key, plaintext = _new_pool_key(pool=pool, actor=actor, name=old.name)
    old.revoked_at = timezone.now()
    old.replaced_by = key
    old.save(update_fields=["revoked_at", "replaced_by"])
    audit_record(
        actor=actor,
        action="pool_key.rotate",
        organisation=organisation,
        target=f"{pool}:{old.lookup}",
        detail={"new": key.lookup},
    )
    return key, plaintext


# --- capacity commitments ---------------------------------------------------------------------


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
