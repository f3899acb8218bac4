"""Shared fixtures. Real PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set; tests marked
``postgres``/``redis`` skip without them, except under CI=true, where a missing service fails."""

import os
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Membership, Organisation
from accounts.selectors import user_has_totp
from catalog.services import reference_data_load
from settlement.services import bank_reference_for, bank_transfer_record
from tests.factories import OrganisationFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_runtest_setup(item):
    needs_pg = item.get_closest_marker("postgres") is not None
    needs_redis = item.get_closest_marker("redis") is not None
    missing = []
    if needs_pg and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        missing.append("PostgreSQL (set DATABASE_URL)")
    if needs_redis and not settings.REDIS_URL:
        missing.append("Redis (set REDIS_URL)")
    if missing:
        message = f"needs {' and '.join(missing)}"
        if IN_CI:
            pytest.fail(f"{message}: under CI=true a missing service fails the run", pytrace=False)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits, throttles and used TOTP codes live in the cache: every test starts clean."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def reference_data(db):
    reference_data_load()


@pytest.fixture
def make_org(db):
    def make(*, provider=False, buyer=True, role=Membership.Role.OWNER, user=None, **kwargs):
        user = user or UserFactory()
        org = OrganisationFactory(is_provider=provider, is_buyer=buyer, **kwargs)
        Membership.objects.create(user=user, organisation=org, role=role)
        return user, org

    return make


@pytest.fixture
def provider(make_org, reference_data):
    return make_org(provider=True)


@pytest.fixture
def other_provider(make_org, reference_data):
    return make_org(provider=True)


@pytest.fixture
def operator(db):
    """A platform operator with TOTP set up (as MFA requires)."""
    user = UserFactory(email="op@suanli.test")
    platform = Organisation.objects.create(name="Suanli", slug="suanli", is_platform=True, is_buyer=False)
    Membership.objects.create(user=user, organisation=platform, role=Membership.Role.OWNER)
    TOTP.activate(user, OPERATOR_TOTP_SECRET)
    return user


@pytest.fixture
def fund(operator):
    """Top an organisation up by bank transfer, as the operator records it."""
    counter = iter(range(1, 10**6))

    def fund(organisation, amount):
        return bank_transfer_record(
            actor=operator,
            reference=bank_reference_for(organisation=organisation).code,
            amount=Decimal(amount),
            bank_transaction_id=f"B{next(counter)}",
        )

    return fund


OPERATOR_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PASSWORD = "correct horse battery staple"


def totp_code(secret=OPERATOR_TOTP_SECRET, *, margin=1):
    """The authenticator's code now, from a step with at least `margin` seconds left: allauth
    accepts the current 30-second step only, so a code typed at a step's last moment fails."""
    if 30 - time.time() % 30 < margin:
        time.sleep(30 - time.time() % 30 + 0.05)
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def sign_in(client, user):
    """Sign a user in as a person would; with TOTP, through allauth's second step."""
    if not user_has_totp(user=user):
        client.force_login(user)
        return
    cache.clear()  # allauth remembers used codes for 90 s; every test signs in afresh
    form = {"format": "multipart"} if isinstance(client, APIClient) else {}
    r = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}, **form)
    assert r["Location"] == "/accounts/2fa/authenticate/", r
    r = client.post("/accounts/2fa/authenticate/", {"code": totp_code()}, **form)
    assert r.status_code == 302, r.content[:2000]


@pytest.fixture
def api():
    def client_for(user=None, token=None):
        client = APIClient()
        if user is not None:
            sign_in(client, user)
        if token is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return client_for


def descriptor(**overrides) -> dict:
    d = {
        "code": "sh-lingang-1",
        "name": "Lingang AI Compute Centre",
        "region": "YRD",
        "tier": "MAIN",
        "city": "Shanghai",
        "location": {"latitude": Decimal("30.898"), "longitude": Decimal("121.927")},
        "rtt_ms": Decimal("2.5"),
        "resources": [{"class": "H100-80G", "units": 64}, {"class": "VCPU-X86", "units": 1024}],
        "pue": Decimal("1.25"),
        "green_power_share": Decimal("0.35"),
        "security_level": 3,
        "data_residency": True,
    }
    d.update(overrides)
    return d


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
