"""What the scheduling tests share: a fixed clock, providers with connected pools in several
regions, funded buyers, and helpers to list, state demands and run rounds through the services."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from marketplace.models import Billing
from marketplace.services import ListingTerms, listing_create
from marketplace.services.scheduling import DemandTerms, demand_submit
from tests.marketplace.conftest import connected_pool

H = timedelta(hours=1)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NEXT = NOW + H  # the first hour a round places anything


@pytest.fixture
def sched_clock(monkeypatch):
    """The clock (a true boundary): tests move it by hand."""
    state = {"now": NOW}
    monkeypatch.setattr(timezone, "now", lambda: state["now"])
    return state


@pytest.fixture
def sched(make_org, reference_data, operator, fund, sched_clock, settings):
    """GridCo: a YRD/MAIN pool that keeps data in its region and one that does not; WestDC: an
    NMG/REMOTE pool (cheap power, far from Shanghai). Acme and Bolt: funded buyers."""
    settings.SCHEDULING_DISPATCH = False  # rounds are run by hand here
    gridco_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    westdc_user, westdc = make_org(provider=True, buyer=False, slug="westdc", name="WestDC")
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    bolt_user, bolt = make_org(slug="bolt", name="Bolt Labs")
    fund(acme, "100000.00")
    fund(bolt, "100000.00")
    pools = {
        "yrd": connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="yrd-1", units=32),
        "nmg": connected_pool(
            user=westdc_user,
            organisation=westdc,
            operator=operator,
            code="nmg-1",
            units=32,
            region="NMG",
            tier="REMOTE",
        ),  # fmt: skip
    }
    open_pool = connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="yrd-2", units=32)
    open_pool.data_residency = False
    open_pool.save(update_fields=["data_residency"])
    pools["yrd_open"] = open_pool
    return {"pools": pools, "operator": operator, "fund": fund,
            "orgs": {"gridco": gridco, "westdc": westdc, "acme": acme, "bolt": bolt},
            "users": {"gridco": gridco_user, "westdc": westdc_user, "acme": acme_user, "bolt": bolt_user}}  # fmt: skip


def list_on(sched, pool: str, *, price="12.0000", units=8, billing=Billing.PER_TIME, start=NOW, hours=72,
            cls="H100-80G"):  # fmt: skip
    owner = "westdc" if pool == "nmg" else "gridco"
    return listing_create(
        actor=sched["users"][owner], organisation=sched["orgs"][owner],
        terms=ListingTerms(pool_id=sched["pools"][pool].pk, resource_class=cls, units=units, price=Decimal(price),
                           billing=billing, minimum_minutes=60, available_from=start,
                           available_until=start + hours * H),
    )  # fmt: skip


def terms(**overrides) -> DemandTerms:
    d = {"resource_class": "H100-80G", "units": 8, "hours": 4, "earliest_start": NEXT,
         "latest_finish": NEXT + 24 * H}  # fmt: skip
    d.update(overrides)
    return DemandTerms(**d)


def submit(sched, who="acme", key="d1", **overrides):
    return demand_submit(
        actor=sched["users"][who], organisation=sched["orgs"][who], terms=terms(**overrides), idempotency_key=key
    )
