"""Demo data: looks like a real exchange, loads through the services, and loads twice safely."""

import pytest

from accounts.models import Membership, Organisation, User
from catalog.demo import demo_heartbeats, demo_load
from catalog.models import Heartbeat, Pool, PoolStatus, Region, Tier

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        User.objects.count(),
        Organisation.objects.count(),
        Membership.objects.count(),
        sorted(Pool.objects.values_list("code", "status")),
    )


def test_demo_exchange():
    demo_load()
    first = snapshot()
    demo_load()
    assert snapshot() == first
    assert Region.objects.count() == 8
    providers = Organisation.objects.filter(is_provider=True)
    assert providers.count() >= 5
    shanghai = Pool.objects.filter(city="Shanghai")
    assert {p.tier for p in shanghai} >= {Tier.MAIN, Tier.EDGE}
    assert len({p.region_id for p in Pool.objects.all()}) >= 5
    assert Pool.objects.filter(status=PoolStatus.APPLIED).exists()  # something to verify
    assert Pool.objects.filter(status=PoolStatus.SUSPENDED).exists()
    assert Organisation.objects.filter(is_buyer=True, is_provider=False).count() >= 3
    operator = User.objects.get(email="operator@suanli.example")
    assert operator.authenticator_set.filter(type="totp").exists()
    from settlement.services import available_funds

    buyers = Organisation.objects.filter(is_buyer=True, is_provider=False).order_by("pk")
    assert [available_funds(organisation=b).available for b in buyers][:3] == [500_000, 1_000_000, 1_500_000]


def test_demo_heartbeats_keep_connected_pools_alive():
    demo_load()
    connected = Pool.objects.filter(status=PoolStatus.CONNECTED).count()
    before = Heartbeat.objects.count()
    import time

    time.sleep(1)  # heartbeats are per second
    assert demo_heartbeats() == connected + 1  # the operator-suspended demo pool still reports
    assert Heartbeat.objects.count() == before + connected + 1
    assert Pool.objects.filter(status=PoolStatus.SUSPENDED).count() == 1  # the operator's suspension holds
