"""Per-pool machine keys: create, rotate, revoke; stored only as hashes."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.keys import key_generate
from accounts.models import Organisation, User
from accounts.services import audit_record
from catalog.locks import pool_lock
from catalog.models import (
    Pool,
    PoolKey,
    PoolStatus,
)
from catalog.services.pools import _writer
from config.errors import Conflict, ExchangeError

POOL_KEY_KIND = "pk"


def _own_pool(*, actor: User, organisation: Organisation, pool_id: int) -> Pool:
    _writer(actor=actor, organisation=organisation)
    pool = pool_lock(pool_id=pool_id, provider=organisation)
    if pool is None:
        raise ExchangeError(gettext("No such pool."), code="not_found", status=404)
    if pool.status == PoolStatus.DISCONNECTED:
        raise Conflict(gettext("The pool is disconnected."), code="pool_disconnected")
    return pool


def _new_pool_key(*, pool: Pool, actor: User, name: str) -> tuple[PoolKey, str]:
    name = (name or "").strip() or "machine key"
    if len(name) > 80:
        raise ExchangeError(
            gettext("Invalid name."),
            fields={"name": [{"code": "max_length", "detail": gettext("At most 80 characters.")}]},
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
        raise ExchangeError(gettext("No such key."), code="not_found", status=404)
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
        raise ExchangeError(gettext("No such key."), code="not_found", status=404)
    if old.revoked_at is not None:
        raise Conflict(gettext("This key was already revoked."), code="key_revoked")
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
