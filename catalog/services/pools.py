"""Pools: application and life cycle (grid-connection standard §1-2), operator actions, silence."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Membership, Organisation, User
from accounts.selectors import user_is_operator
from accounts.services import audit_record
from catalog.descriptor import descriptor_errors
from catalog.locks import pool_lock
from catalog.models import (
    POOL_TRANSITIONS,
    CapacityCommitment,
    CommitmentKind,
    Pool,
    PoolResource,
    PoolStatus,
    PoolTransition,
)
from catalog.selectors import pool_descriptor_schema
from config.errors import Conflict, ExchangeError, NotAllowed, required_reason

SILENCE_SUSPENDS_AFTER = timedelta(minutes=15)  # grid-connection standard §2


def _writer(*, actor: User, organisation: Organisation) -> None:
    membership = Membership.objects.filter(user=actor, organisation=organisation).first()
    if membership is None or not membership.can_write:
        raise NotAllowed(gettext("You cannot change this organisation's pools."), code="role_required")


def _to_decimal(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@transaction.atomic
def pool_apply(*, actor: User, organisation: Organisation, descriptor: dict) -> Pool:
    """A provider applies to connect a pool (grid-connection standard §1-2): status ``applied``."""
    if not organisation.is_provider:
        raise NotAllowed(gettext("Only provider organisations connect pools."), code="not_a_provider")
    _writer(actor=actor, organisation=organisation)
    errors = descriptor_errors(descriptor, pool_descriptor_schema())
    if not errors and Pool.objects.for_org(organisation).filter(code=descriptor["code"]).exists():
        errors["code"] = [{"code": "duplicate", "detail": gettext("You already have a pool with this code.")}]
    if errors:
        raise ExchangeError(gettext("The pool descriptor is not valid."), code="invalid_descriptor", fields=errors)
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
            gettext("The pool descriptor is not valid."),
            code="invalid_descriptor",
            fields={"code": [{"code": "duplicate", "detail": gettext("You already have a pool with this code.")}]},
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
            gettext("A pool that is %(status)s cannot become %(to)s.") % {"status": pool.status, "to": to_status},
            code="invalid_transition",
            fields={
                "status": [
                    {
                        "code": "invalid_transition",
                        "detail": gettext("%(status)s → %(to)s is not allowed.")
                        % {"status": pool.status, "to": to_status},
                    }
                ]
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


_OPERATOR_REASON_CODES = {
    "verify": "operator_verified",
    "suspend": "operator_suspended",
    "resume": "operator_resumed",
    "reject": "operator_rejected",
}


def _operator_step(
    *, actor: User, pool_id: int, action: str, to_status: str, reason: str, only_from: str | None = None, check=None
) -> Pool:
    """One operator action on a pool: an acting operator, the pool locked, the life cycle (and
    ``only_from``, and ``check``) allowing it, the step recorded and audited."""
    if not user_is_operator(user=actor, acting=True):
        raise NotAllowed(gettext("Only operators (not viewers) act on pools."), code="operator_required")
    pool = pool_lock(pool_id=pool_id)
    if pool is None:
        raise ExchangeError(gettext("No such pool."), code="not_found", status=404)
    if only_from is not None and pool.status != only_from:
        raise Conflict(
            gettext("Only a pool that is %(from)s can take '%(action)s'; this one is %(status)s.")
            % {"from": only_from, "action": action, "status": pool.status},
            code="invalid_transition",
        )
    if check is not None:
        check(pool)
    _transition(pool=pool, to_status=to_status, actor=actor, reason_code=_OPERATOR_REASON_CODES[action], reason=reason)
    audit_record(actor=actor, action=f"pool.{action}", organisation=pool.provider, target=str(pool), reason=reason)
    return pool


@transaction.atomic
def pool_verify(*, actor: User, pool_id: int, reason: str = "") -> Pool:
    """The operator verifies an applied pool; its first heartbeat then connects it."""
    return _operator_step(
        actor=actor, pool_id=pool_id, action="verify", to_status=PoolStatus.VERIFIED, reason=(reason or "").strip()
    )


@transaction.atomic
def pool_suspend(*, actor: User, pool_id: int, reason: str) -> Pool:
    return _operator_step(
        actor=actor, pool_id=pool_id, action="suspend", to_status=PoolStatus.SUSPENDED, reason=required_reason(reason)
    )


def _heard_lately(pool: Pool) -> None:
    if not _recently_heard(pool, now=timezone.now()):
        raise Conflict(
            gettext("The pool has sent no heartbeat in the last 15 minutes; it can be resumed once it reports again."),
            code="pool_silent",
        )


@transaction.atomic
def pool_resume(*, actor: User, pool_id: int, reason: str) -> Pool:
    """The operator reconnects a suspended pool that is reporting again."""
    return _operator_step(
        actor=actor,
        pool_id=pool_id,
        action="resume",
        to_status=PoolStatus.CONNECTED,
        reason=required_reason(reason),
        only_from=PoolStatus.SUSPENDED,
        check=_heard_lately,
    )


@transaction.atomic
def pool_reject(*, actor: User, pool_id: int, reason: str) -> Pool:
    """The operator refuses an application: applied → disconnected."""
    return _operator_step(
        actor=actor,
        pool_id=pool_id,
        action="reject",
        to_status=PoolStatus.DISCONNECTED,
        reason=required_reason(reason),
        only_from=PoolStatus.APPLIED,
    )


@transaction.atomic
def pool_withdraw(*, actor: User, organisation: Organisation, pool_id: int, reason: str = "") -> Pool:
    """The provider disconnects its pool, once no contract or reservation needs it and no open sell
    order or listing offers its units (a trade must always find the units it was offered)."""
    _writer(actor=actor, organisation=organisation)
    pool = pool_lock(pool_id=pool_id, provider=organisation)
    if pool is None:
        raise ExchangeError(gettext("No such pool."), code="not_found", status=404)
    needed = (
        CapacityCommitment.objects.open()
        .filter(pool=pool, kind=CommitmentKind.COMMITTED, end__gt=timezone.now())
        .count()
    )
    if needed:
        raise Conflict(
            gettext("%(n)s contract(s) or reservation(s) still need this pool.") % {"n": needed}, code="pool_in_use"
        )
    offered = (
        CapacityCommitment.objects.open().filter(pool=pool, kind=CommitmentKind.OFFERED, end__gt=timezone.now()).count()
    )
    if offered:
        raise Conflict(
            gettext("%(n)s open sell order(s) or listing(s) offer this pool's units: cancel them first.")
            % {"n": offered},
            code="pool_in_use",
        )
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
