"""The pool life cycle (grid-connection standard §2) as a state machine, and silence → suspended."""

from datetime import timedelta
from itertools import product

import pytest
from django.utils import timezone

from catalog.models import POOL_TRANSITIONS, Heartbeat, Pool, PoolStatus
from catalog.services import (
    heartbeat_record,
    pool_apply,
    pool_key_create,
    pool_resume,
    pool_suspend,
    pool_verify,
    pools_suspend_silent,
)
from catalog.services.pools import _transition
from config.errors import Conflict
from tests.conftest import descriptor

pytestmark = pytest.mark.django_db

ALLOWED = {
    ("applied", "verified"),
    ("applied", "disconnected"),
    ("verified", "connected"),
    ("verified", "suspended"),
    ("verified", "disconnected"),
    ("connected", "suspended"),
    ("connected", "disconnected"),
    ("suspended", "connected"),
    ("suspended", "disconnected"),
}


def test_transition_map_is_the_standards_life_cycle():
    assert {(a, b) for a, targets in POOL_TRANSITIONS.items() for b in targets} == ALLOWED


@pytest.mark.parametrize(("src", "dst"), list(product(PoolStatus.values, PoolStatus.values)))
def test_every_pair_is_allowed_or_refused(provider, src, dst):
    user, org = provider
    pool = pool_apply(actor=user, organisation=org, descriptor=descriptor())
    Pool.objects.filter(pk=pool.pk).update(status=src)
    pool.refresh_from_db()
    before = pool.transitions.count()
    if (src, dst) in ALLOWED:
        step = _transition(pool=pool, to_status=dst, actor=user, reason_code="test", reason="why")
        assert (step.from_status, step.to_status, step.actor, step.reason) == (src, dst, user, "why")
        assert Pool.objects.get(pk=pool.pk).status == dst
    else:
        with pytest.raises(Conflict):
            _transition(pool=pool, to_status=dst, actor=user, reason_code="test")
        assert Pool.objects.get(pk=pool.pk).status == src
        assert pool.transitions.count() == before


@pytest.fixture
def connected(provider, operator):
    user, org = provider
    pool = pool_apply(actor=user, organisation=org, descriptor=descriptor())
    pool_verify(actor=operator, pool_id=pool.pk)
    key, _ = pool_key_create(actor=user, organisation=org, pool_id=pool.pk, name="k")
    _beat(pool, key, timezone.now().replace(microsecond=0))
    pool.refresh_from_db()
    assert pool.status == PoolStatus.CONNECTED
    return pool, key


def _beat(pool, key, ts):
    return heartbeat_record(pool_key=key, pool_id=pool.pk, ts=ts, available={}, health="ok")


def test_silent_for_15_minutes_is_suspended_and_not_before(connected):
    pool, key = connected
    last = pool.last_heartbeat_at
    assert pools_suspend_silent(now=last + timedelta(minutes=15) - timedelta(seconds=1)) == []
    assert Pool.objects.get(pk=pool.pk).status == PoolStatus.CONNECTED

    later = last + timedelta(minutes=15)  # exactly 15 minutes silent
    assert pools_suspend_silent(now=later) == [pool.pk]
    pool.refresh_from_db()
    assert pool.status == PoolStatus.SUSPENDED
    last = pool.transitions.last()
    assert (last.actor, last.actor_label, last.reason_code) == (None, "system", "heartbeat_timeout")
    assert pools_suspend_silent(now=later) == []  # idempotent
    assert pool.transitions.filter(reason_code="heartbeat_timeout").count() == 1


def test_a_pool_suspended_for_silence_reconnects_on_its_next_current_heartbeat(connected):
    pool, key = connected
    pools_suspend_silent(now=pool.last_heartbeat_at + timedelta(minutes=20))
    assert Pool.objects.get(pk=pool.pk).status == PoolStatus.SUSPENDED
    _beat(pool, key, pool.last_heartbeat_at - timedelta(minutes=5))  # an old one from a backlog
    assert Pool.objects.get(pk=pool.pk).status == PoolStatus.SUSPENDED
    _beat(pool, key, timezone.now())
    pool.refresh_from_db()
    assert pool.status == PoolStatus.CONNECTED
    assert pool.transitions.last().reason_code == "heartbeat_resumed"
    assert Heartbeat.objects.filter(pool=pool).count() == 3


def test_a_stale_first_heartbeat_does_not_connect(provider, operator):
    user, org = provider
    pool = pool_apply(actor=user, organisation=org, descriptor=descriptor())
    pool_verify(actor=operator, pool_id=pool.pk)
    key, _ = pool_key_create(actor=user, organisation=org, pool_id=pool.pk, name="k")
    _beat(pool, key, timezone.now() - timedelta(minutes=16))
    assert Pool.objects.get(pk=pool.pk).status == PoolStatus.VERIFIED


def test_resume_needs_a_current_heartbeat(provider, operator):
    user, org = provider
    pool = pool_apply(actor=user, organisation=org, descriptor=descriptor())
    pool_verify(actor=operator, pool_id=pool.pk)
    pool_suspend(actor=operator, pool_id=pool.pk, reason="hold")
    with pytest.raises(Conflict) as err:
        pool_resume(actor=operator, pool_id=pool.pk, reason="go")
    assert err.value.code == "pool_silent"
    key, _ = pool_key_create(actor=user, organisation=org, pool_id=pool.pk, name="k")
    _beat(pool, key, timezone.now())  # stored; an operator's suspension is not lifted by it
    assert Pool.objects.get(pk=pool.pk).status == PoolStatus.SUSPENDED
    assert pool_resume(actor=operator, pool_id=pool.pk, reason="go").status == PoolStatus.CONNECTED


def test_verified_pools_without_heartbeats_are_not_suspended(provider, operator):
    user, org = provider
    pool = pool_apply(actor=user, organisation=org, descriptor=descriptor())
    pool_verify(actor=operator, pool_id=pool.pk)
    assert pools_suspend_silent(now=timezone.now() + timedelta(days=1)) == []
