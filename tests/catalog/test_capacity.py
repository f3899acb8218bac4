"""Capacity accounting (grid-connection standard §4): one layer, never oversold."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.capacity import capacity_by_hour, capacity_summary, sellable_by_pool, sellable_units
from catalog.models import CapacityCommitment, PoolStatus
from catalog.services import (
    capacity_commit,
    capacity_release,
    heartbeat_record,
    pool_apply,
    pool_key_create,
    pool_suspend,
    pool_verify,
    pool_withdraw,
)
from config.errors import Conflict, ExchangeError
from tests.concurrency import race
from tests.conftest import T0, descriptor

H = timedelta(hours=1)


@pytest.fixture
def pool(provider, operator):
    user, org = provider
    pool = pool_apply(
        actor=user, organisation=org, descriptor=descriptor(resources=[{"class": "H100-80G", "units": 100}])
    )
    pool_verify(actor=operator, pool_id=pool.pk)
    key, _ = pool_key_create(actor=user, organisation=org, pool_id=pool.pk, name="k")
    heartbeat_record(pool_key=key, pool_id=pool.pk, ts=timezone.now(), available={}, health="ok")
    pool.refresh_from_db()
    assert pool.status == PoolStatus.CONNECTED
    return pool


def commit(pool, units, start, end, source, kind="committed"):
    return capacity_commit(
        pool_id=pool.pk, resource_class="H100-80G", kind=kind, units=units, start=start, end=end, source=source
    )


@pytest.mark.django_db
def test_installed_committed_offered_sellable_per_hour(pool):
    commit(pool, 30, T0, T0 + 2 * H, "contract:1")
    commit(pool, 20, T0 + H, T0 + 3 * H, "order:1", kind="offered")
    commit(pool, 5, T0 + timedelta(minutes=30), T0 + timedelta(minutes=90), "reservation:1")
    rows = capacity_by_hour(pool_ids=[pool.pk], start=T0, end=T0 + 4 * H)
    assert [(r.hour - T0, r.installed, r.committed, r.offered, r.sellable) for r in rows] == [
        (0 * H, 100, 35, 0, 65),
        (1 * H, 100, 35, 20, 45),
        (2 * H, 100, 0, 20, 80),
        (3 * H, 100, 0, 0, 100),
    ]
    assert sellable_units(pool_id=pool.pk, resource_class="H100-80G", start=T0, end=T0 + 3 * H) == 45
    assert capacity_summary(pool_ids=[pool.pk], start=T0, end=T0 + 4 * H) == [
        {"pool_id": pool.pk, "resource_class": "H100-80G", "installed": 100, "committed": 35, "offered": 20,
         "sellable": 45}
    ]  # fmt: skip
    # many pools at once (order entry's), the same as one at a time
    for start, end in ((T0, T0 + 3 * H), (T0 + H, T0 + 2 * H), (T0 + 2 * H, T0 + 4 * H), (T0 - H, T0 + 10 * H)):
        assert sellable_by_pool(installed={pool.pk: 100}, resource_class="H100-80G", start=start, end=end) == {
            pool.pk: sellable_units(pool_id=pool.pk, resource_class="H100-80G", start=start, end=end)
        }


@pytest.mark.django_db
def test_a_sale_that_would_make_sellable_negative_is_refused(pool):
    commit(pool, 60, T0, T0 + 2 * H, "contract:1")
    with pytest.raises(ExchangeError) as err:
        commit(pool, 41, T0 + H, T0 + 5 * H, "contract:2")
    assert err.value.code == "insufficient_capacity"
    commit(pool, 40, T0 + H, T0 + 5 * H, "contract:2")
    assert CapacityCommitment.objects.count() == 2


@pytest.mark.django_db
def test_commitments_are_idempotent_by_source_and_released_once(pool):
    first = commit(pool, 10, T0, T0 + H, "order:7", kind="offered")
    assert commit(pool, 10, T0, T0 + H, "order:7", kind="offered").pk == first.pk
    with pytest.raises(Conflict):
        commit(pool, 11, T0, T0 + H, "order:7", kind="offered")
    assert capacity_release(source="order:7") == 1
    assert capacity_release(source="order:7") == 0
    assert sellable_units(pool_id=pool.pk, resource_class="H100-80G", start=T0, end=T0 + H) == 100


@pytest.mark.django_db
def test_only_connected_pools_have_sellable_capacity(pool, operator):
    pool_suspend(actor=operator, pool_id=pool.pk, reason="maintenance")
    rows = capacity_by_hour(pool_ids=[pool.pk], start=T0, end=T0 + H)
    assert [(r.installed, r.sellable) for r in rows] == [(100, 0)]
    with pytest.raises(ExchangeError):
        commit(pool, 1, T0, T0 + H, "contract:9")


@pytest.mark.django_db
def test_a_pool_that_a_contract_needs_cannot_be_withdrawn(pool, provider):
    user, org = provider
    now = timezone.now()
    commit(pool, 10, now, now + 2 * H, "contract:1")
    with pytest.raises(Conflict) as err:
        pool_withdraw(actor=user, organisation=org, pool_id=pool.pk)
    assert err.value.code == "pool_in_use"
    capacity_release(source="contract:1")
    assert pool_withdraw(actor=user, organisation=org, pool_id=pool.pk).status == PoolStatus.DISCONNECTED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_sales_never_oversell_a_pool(pool):
    """20 buyers race for 10 units each of 100: exactly 10 succeed, sellable ends at 0."""
    outcomes = race(20, lambda i: commit(pool, 10, T0, T0 + 24 * H, f"reservation:{i}"))
    assert outcomes.count("ok") == 10
    assert outcomes.count("insufficient_capacity") == 10
    assert sellable_units(pool_id=pool.pk, resource_class="H100-80G", start=T0, end=T0 + 24 * H) == 0
    assert min(r.sellable for r in capacity_by_hour(pool_ids=[pool.pk], start=T0, end=T0 + 24 * H)) == 0
