from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.services import heartbeat_record, pool_apply, pool_key_create, pool_verify
from marketplace.services import (
    ListingTerms,
    OrderTerms,
    ReservationTerms,
    books_forget,
    instrument_ensure,
    instrument_match,
    listing_create,
    order_place,
    reservation_place,
    upcoming_windows,
)
from marketplace.services.instruments import instrument_code
from tests.conftest import descriptor
from tests.ledger import _ledger_checked_after_every_test  # noqa: F401 (autouse fixture)


@pytest.fixture(autouse=True)
def _fresh_books():
    """Matching keeps books in memory; the database is rolled back between tests."""
    books_forget()
    yield
    books_forget()


def connected_pool(*, user, organisation, operator, code, units=64, cls="H100-80G", region="YRD", tier="MAIN"):
    pool = pool_apply(
        actor=user,
        organisation=organisation,
        descriptor=descriptor(code=code, region=region, tier=tier, resources=[{"class": cls, "units": units}]),
    )
    pool_verify(actor=operator, pool_id=pool.pk)
    key, _ = pool_key_create(actor=user, organisation=organisation, pool_id=pool.pk, name="rack")
    heartbeat_record(pool_key=key, pool_id=pool.pk, ts=timezone.now(), available={}, health="ok")
    pool.refresh_from_db()
    return pool


def next_week_code(cls="H100-80G", region="YRD", tier="MAIN", *, days_ahead=7) -> str:
    day = next(d for d, k in upcoming_windows(now=timezone.now() + timedelta(days=days_ahead)) if k == "W")
    return instrument_code(resource_class=cls, region=region, tier=tier, day=day, kind="W")


@pytest.fixture
def market(make_org, reference_data, operator, fund):
    """Two providers with a connected pool of 64 H100 in YRD/MAIN, two funded buyers, and next
    week's H100 instrument listed."""
    gridco_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    westdc_user, westdc = make_org(provider=True, buyer=False, slug="westdc", name="WestDC")
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    bolt_user, bolt = make_org(slug="bolt", name="Bolt Labs")
    fund(acme, "1000000.00")
    fund(bolt, "1000000.00")
    pools = {
        "gridco": connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-1"),
        "westdc": connected_pool(user=westdc_user, organisation=westdc, operator=operator, code="westdc-1"),
    }
    instrument = instrument_ensure(code=next_week_code())
    return {
        "instrument": instrument,
        "pools": pools,
        "orgs": {"gridco": gridco, "westdc": westdc, "acme": acme, "bolt": bolt},
        "users": {"gridco": gridco_user, "westdc": westdc_user, "acme": acme_user, "bolt": bolt_user},
        "fund": fund,
    }


# --- the shelf: a small market of five products (tests/marketplace/test_shelf.py, test_product_pages.py)

H = timedelta(hours=1)
WH_YRD = "H100-80G.YRD.MAIN.wholesale.per_time"
WH_JJJ = "H100-80G.JJJ.EDGE.wholesale.per_time"
RT_TIME = "H100-80G.YRD.MAIN.retail.per_time"
RT_VOLUME = "H100-80G.YRD.MAIN.retail.per_volume"
RT_CPU = "VCPU-X86.JJJ.EDGE.retail.per_volume"


def pool(*, user, org, operator, code, region, tier, resources, green):
    p = pool_apply(actor=user, organisation=org, descriptor=descriptor(
        code=code, region=region, tier=tier, resources=resources, green_power_share=Decimal(green)))  # fmt: skip
    pool_verify(actor=operator, pool_id=p.pk)
    key, _ = pool_key_create(actor=user, organisation=org, pool_id=p.pk, name="rack")
    heartbeat_record(pool_key=key, pool_id=p.pk, ts=timezone.now(), available={}, health="ok")
    return p


def sell_or_buy(users, orgs, who, code, side, qty, price, key):
    terms = OrderTerms(instrument=code, side=side, type="limit", qty=qty, tif="GTC", price=Decimal(price))
    return order_place(actor=users[who], organisation=orgs[who], terms=terms, idempotency_key=key)


@pytest.fixture
def shop(make_org, reference_data, operator, fund):
    return build_shop(make_org=make_org, operator=operator, fund=fund)


def build_shop(*, make_org, operator, fund) -> dict:
    """GridCo: 64 H100 in YRD/MAIN (green 0.35). WestDC: 32 H100 in YRD/MAIN (green 0.80), and
    16 H100 + 1,024 vCPU in JJJ/EDGE (green 0.50). Next week's H100 YRD/MAIN week: asks 16 at
    12.00 (8 of them bought) and 8 at 12.40; its day instrument and JJJ/EDGE's week have empty
    books. Retail: GridCo 8 H100 per time at 21.36 from in two hours (3 reserved in its first
    hour), WestDC 4 H100 per volume at 30.00 now, and 256 vCPU per volume at 0.50 now."""
    g_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    w_user, westdc = make_org(provider=True, buyer=False, slug="westdc", name="WestDC")
    a_user, acme = make_org(slug="acme", name="Acme AI")
    fund(acme, "1000000.00")
    users, orgs = (
        {"gridco": g_user, "westdc": w_user, "acme": a_user},
        {"gridco": gridco, "westdc": westdc, "acme": acme},
    )
    g1 = pool(user=g_user, org=gridco, operator=operator, code="gridco-1", region="YRD", tier="MAIN",
              resources=[{"class": "H100-80G", "units": 64}], green="0.35")  # fmt: skip
    w1 = pool(user=w_user, org=westdc, operator=operator, code="westdc-1", region="YRD", tier="MAIN",
              resources=[{"class": "H100-80G", "units": 32}], green="0.80")  # fmt: skip
    edge = [{"class": "H100-80G", "units": 16}, {"class": "VCPU-X86", "units": 1024}]
    w2 = pool(user=w_user, org=westdc, operator=operator, code="westdc-2", region="JJJ", tier="EDGE",
              resources=edge, green="0.50")  # fmt: skip
    week = instrument_ensure(code=next_week_code())
    day = instrument_ensure(code=week.code.replace(".W", ".D"))
    jjj = instrument_ensure(code=next_week_code(region="JJJ", tier="EDGE"))
    sell_or_buy(users, orgs, "gridco", week.code, "sell", 16, "12.00", "g1")
    sell_or_buy(users, orgs, "acme", week.code, "buy", 8, "12.00", "a1")
    sell_or_buy(users, orgs, "westdc", week.code, "sell", 8, "12.40", "w1")
    instrument_match(instrument_id=week.pk)
    now = timezone.now()
    first = now.replace(minute=0, second=0, microsecond=0) + 2 * H

    def listing(user, org, p, cls, units, price, billing, start, minimum=60):
        terms = ListingTerms(pool_id=p.pk, resource_class=cls, units=units, price=Decimal(price), billing=billing,
                             minimum_minutes=minimum, available_from=start, available_until=first + 48 * H)  # fmt: skip
        return listing_create(actor=user, organisation=org, terms=terms)

    per_time = listing(g_user, gridco, g1, "H100-80G", 8, "21.36", "per_time", first)
    per_volume = listing(w_user, westdc, w1, "H100-80G", 4, "30.00", "per_volume", now, minimum=1)
    cpu = listing(w_user, westdc, w2, "VCPU-X86", 256, "0.50", "per_volume", now, minimum=1)
    terms = ReservationTerms(listing_id=per_time.pk, units=3, start=first, end=first + 2 * H)
    reservation_place(actor=a_user, organisation=acme, idempotency_key="r1", terms=terms)
    return {"users": users, "orgs": orgs, "week": week, "day": day, "jjj": jjj,
            "listings": {"per_time": per_time, "per_volume": per_volume, "cpu": cpu}}  # fmt: skip


# the scheduling tests' fixtures (tests/marketplace/test_scheduling_*.py)
from tests.marketplace.scheduling_setup import sched, sched_clock  # noqa: E402, F401
