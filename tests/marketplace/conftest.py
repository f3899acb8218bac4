from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.services import heartbeat_record, pool_apply, pool_key_create, pool_verify
from marketplace.services import books_forget, instrument_ensure, upcoming_windows
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


def next_week_code(cls="H100-80G", region="YRD", tier="MAIN") -> str:
    day = next(d for d, k in upcoming_windows(now=timezone.now() + timedelta(days=7)) if k == "W")
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


# the scheduling tests' fixtures (tests/marketplace/test_scheduling_*.py)
from tests.marketplace.scheduling_setup import sched, sched_clock  # noqa: E402, F401
