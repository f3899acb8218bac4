"""The provider portal's pool page: heartbeats over time, capacity by hour, the pool's listings,
asks on the book and fills, and that another provider's pool stays out of sight."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from catalog.capacity import hour_floor
from catalog.models import Heartbeat, Pool
from catalog.services import capacity_commit
from catalog.views import pool_charts
from marketplace.models import ContractLeg
from tests.conftest import sign_in
from tests.ledger import _ledger_checked_after_every_test  # noqa: F401 (autouse fixture)
from tests.marketplace.conftest import _fresh_books, connected_pool, market  # noqa: F401 (fixtures)
from tests.marketplace.test_market_data import clock, scenario  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool(provider, operator):
    user, org = provider
    return connected_pool(user=user, organisation=org, operator=operator, code="lingang-1", units=64)


def test_heartbeat_timeline_draws_available_units_and_health_bands(pool, provider):
    now = timezone.now()
    Heartbeat.objects.filter(pool=pool).delete()
    beats = [(now - timedelta(hours=h), units, health) for h, units, health in
             [(30, 64, "ok"), (20, 64, "ok"), (10, 60, "ok"), (6, 40, "degraded"), (2, 0, "down")]]  # fmt: skip
    for ts, units, health in beats:
        Heartbeat.objects.create(pool=pool, ts=ts, available={"H100-80G": units}, health=health)
    day = pool_charts(pool, heartbeat_range="24h", now=now)
    assert day["heartbeat_count"] == 4  # the one 30 h ago is outside the last 24 h
    (series,) = day["heartbeat_chart"].series
    assert series.label == "H100-80G"
    assert [p.title.split(": ")[1] for p in series.points] == ["64", "60", "40", "0"]
    # the y axis ends at 100 (the round value above 64): 64 sits at 36 % of the inner height from the top
    ys = [p.y for p in series.points]
    assert ys[-1] == Decimal(192) and ys[0] == Decimal("12") + Decimal(180) * Decimal("0.36")
    # two OK beats merge into one band; then degraded, then down until now
    assert [b.css for b in day["heartbeat_chart"].bars] == ["ok", "degraded", "down"]
    ok, degraded, down = day["heartbeat_chart"].bars
    assert ok.x == Decimal("64.0") + Decimal(564) * Decimal(4) / Decimal(24)  # starts 20 h ago of 24
    assert down.x + down.width == Decimal(628)  # until now, the right edge
    week = pool_charts(pool, heartbeat_range="7d", now=now)
    assert week["heartbeat_count"] == 5


def test_capacity_by_hour_chart_shows_installed_committed_offered_sellable(pool, provider):
    start = hour_floor(timezone.now()) + timedelta(hours=2)
    capacity_commit(pool_id=pool.pk, resource_class="H100-80G", kind="committed", units=16, start=start,
                    end=start + timedelta(hours=3), source="contract:1:pool:1")  # fmt: skip
    capacity_commit(pool_id=pool.pk, resource_class="H100-80G", kind="offered", units=8, start=start,
                    end=start + timedelta(hours=5), source="order:1")  # fmt: skip
    charts = pool_charts(pool, heartbeat_range="24h")["capacity_charts"]
    ((cls, chart, rows),) = charts
    assert cls == "H100-80G" and len(rows) == 72
    figures = [(r.installed, r.committed, r.offered, r.sellable) for r in rows[:8]]
    assert figures == [(64, 0, 0, 64)] * 2 + [(64, 16, 8, 40)] * 3 + [(64, 0, 8, 56)] * 2 + [(64, 0, 0, 64)]
    assert [s.label for s in chart.series] == ["committed", "offered", "sellable", "installed"]
    assert [p.title.split(": ")[1] for p in chart.series[2].points[:6]] == ["64", "64", "40", "40", "40", "56"]
    assert chart.series[2].dots == ()  # 72 points: a line, no dots


def test_pool_page_lists_its_listings_asks_and_fills(scenario, client):  # noqa: F811 (the fixture imported above)
    gridco = scenario["pools"]["gridco"]
    client.force_login(scenario["users"]["gridco"])
    r = client.get(f"/provider/pools/{gridco.pk}/")
    assert r.status_code == 200
    # gridco sold 16 at 12.00 (filled) and 24 at 12.70 (8 filled, 16 resting)
    asks = list(r.context["asks"])
    assert [(a.order.price, a.units, a.filled, a.open_units) for a in asks] == [(Decimal("12.7000"), 24, 8, 16)]
    fills = list(r.context["fills"])
    legs = ContractLeg.objects.filter(pool_id=gridco.pk)
    assert len(fills) == legs.count() == 3
    assert sorted(leg.contract.trade.price for leg in fills) == [Decimal("12.0000")] * 2 + [Decimal("12.7000")]
    assert sum(leg.units for leg in fills) == 24
    page = r.content.decode()
    assert 'id="pool-asks"' in page and "¥12.7000" in page
    assert "/statements/" in page  # statements and payouts, linked
    assert list(r.context["listings"]) == []


def test_another_providers_pool_is_404(pool, other_provider, operator):
    client = Client()
    client.force_login(other_provider[0])
    assert client.get(f"/provider/pools/{pool.pk}/").status_code == 404
    assert client.get(f"/provider/pools/{pool.pk}/?range=7d").status_code == 404
    op = Client()
    sign_in(op, operator)
    r = op.get(f"/operator/pools/{pool.pk}/?range=7d")
    assert r.status_code == 200 and r.context["heartbeat_range"] == "7d"
    assert Pool.objects.count() == 1
