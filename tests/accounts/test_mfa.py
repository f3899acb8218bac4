"""MFA: required for operators, offered to everyone."""

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP

from accounts.models import Membership, Organisation
from tests.conftest import sign_in, totp_code
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_without_totp():
    user = UserFactory()
    platform = Organisation.objects.create(name="Suanli", slug="suanli", is_platform=True, is_buyer=False)
    Membership.objects.create(user=user, organisation=platform, role="owner")
    return user


def test_operator_pages_send_an_operator_without_totp_to_set_it_up(client, operator_without_totp):
    client.force_login(operator_without_totp)
    for url in ("/operator/", "/operator/reference-prices/", "/operator/audit/"):
        r = client.get(url)
        assert r.status_code == 302 and r["Location"] == "/accounts/2fa/totp/activate/", url


def test_operator_with_totp_reaches_the_console(client, operator, reference_data):
    sign_in(client, operator)
    assert client.get("/operator/").status_code == 200
    assert client.get("/operator/reference-prices/").status_code == 200


def test_non_operators_are_forbidden(client, make_org):
    user, _ = make_org(provider=True)
    client.force_login(user)
    assert client.get("/operator/").status_code == 403


def test_everyone_can_activate_totp_and_then_login_asks_for_it(client, make_org):
    user, _ = make_org()
    login = {"login": user.email, "password": "correct horse battery staple"}
    r = client.post("/accounts/login/", login)
    assert r.status_code == 302, r.content.decode()[:3000]
    assert r["Location"] == "/dashboard/", r["Location"]
    assert client.get("/accounts/2fa/").status_code == 200
    # allauth asks for the password again before a security change
    r = client.get("/accounts/2fa/totp/activate/")
    assert r["Location"].startswith("/accounts/reauthenticate/")
    client.post("/accounts/reauthenticate/", {"password": login["password"]})
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    secret = client.session["mfa.totp.secret"]
    r = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert r.status_code == 302
    assert Authenticator.objects.filter(user=user, type="totp").exists()
    client.logout()
    r = client.post("/accounts/login/", login)
    assert r["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/dashboard/").status_code == 302  # not signed in without the code


def test_a_session_that_skipped_the_second_factor_is_not_an_operator_session(client, operator, api, provider):
    """E.g. a session from before TOTP was set up, or any sign-in path without the code."""
    client.force_login(operator)
    r = client.get("/operator/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    assert client.get("/api/v1/me/").status_code == 401  # signed out
    api_client = api()
    api_client.force_login(operator)
    assert api_client.get("/api/v1/audit-events/").status_code == 403


def test_platform_viewers_cannot_act(client, api, provider, reference_data):
    from catalog.models import Pool
    from catalog.services import pool_apply
    from tests.conftest import OPERATOR_TOTP_SECRET, descriptor

    viewer = UserFactory()
    platform = Organisation.objects.create(name="Suanli", slug="suanli", is_platform=True, is_buyer=False)
    Membership.objects.create(user=viewer, organisation=platform, role="viewer")
    TOTP.activate(viewer, OPERATOR_TOTP_SECRET)
    pool = pool_apply(actor=provider[0], organisation=provider[1], descriptor=descriptor())
    sign_in(client, viewer)
    page = client.get(f"/operator/pools/{pool.pk}/").content.decode()
    assert "You can look, not act" in page and ">Verify<" not in page
    r = client.post(f"/operator/pools/{pool.pk}/verify/", {"reason": "x"}, follow=True)
    assert "Only operators (not viewers) act on pools." in r.content.decode()
    r = api(viewer).post(f"/api/v1/pools/{pool.pk}/verify/")
    assert r.status_code == 403
    assert Pool.objects.get(pk=pool.pk).status == "applied"


def test_admin_signs_in_through_allauth(client):
    r = client.get("/admin/login/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
