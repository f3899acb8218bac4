"""Per-organisation API keys: shown once, stored as a hash, scoped, revocable, last-used."""

import pytest
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_create
from config.errors import ExchangeError, NotAllowed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_key_is_shown_once_and_stored_only_as_a_hash(api, provider):
    user, org = provider
    r = api(user).post("/api/v1/api-keys/", {"name": "erp", "scopes": ["pools:read"]})
    assert r.status_code == 201
    secret = r.json()["key"]
    assert secret.startswith("sk_") and len(secret) > 40
    stored = ApiKey.objects.get()
    row = {f.name: str(getattr(stored, f.attname)) for f in ApiKey._meta.fields}
    assert not any(secret in v for v in row.values())
    assert all("key" not in k for k in api(user).get("/api/v1/api-keys/").json()["results"])
    assert "key" not in api(user).get(f"/api/v1/api-keys/{stored.pk}/").json()


def test_a_key_acts_for_its_organisation_within_its_scopes(api, provider, operator):
    user, org = provider
    _, read_only = api_key_create(actor=user, organisation=org, name="ro", scopes=["pools:read"])
    client = api(token=read_only)
    me = client.get("/api/v1/me/").json()
    assert me["organisation"]["slug"] == org.slug and me["organisations"] == [me["organisation"]]
    assert client.get("/api/v1/pools/").status_code == 200
    r = client.post("/api/v1/pools/", {})
    assert r.status_code == 403
    assert r.json() == {"code": "permission_denied", "detail": "This API key lacks the scope 'pools:write'.",
                        "fields": {}}  # fmt: skip
    assert client.get("/api/v1/resource-classes/").status_code == 403  # catalog:read not granted
    # keys do not manage keys or members
    assert client.post("/api/v1/api-keys/", {"name": "x", "scopes": ["pools:read"]}).status_code == 403
    assert client.post("/api/v1/invitations/", {"email": "a@b.test"}).status_code == 403


def test_revoked_and_unknown_keys_are_refused(api, provider):
    user, org = provider
    key, secret = api_key_create(actor=user, organisation=org, name="erp", scopes=["pools:read"])
    assert api(token=secret).get("/api/v1/pools/").status_code == 200
    assert api(user).post(f"/api/v1/api-keys/{key.pk}/revoke/").status_code == 200
    r = api(token=secret).get("/api/v1/pools/")
    assert r.status_code == 401 and r.json()["code"] == "revoked_api_key"
    r = api(token=secret[:-1] + ("A" if secret[-1] != "A" else "B")).get("/api/v1/pools/")
    assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
    assert r["WWW-Authenticate"].startswith("Bearer")


def test_last_used_is_recorded(api, provider):
    user, org = provider
    key, secret = api_key_create(actor=user, organisation=org, name="erp", scopes=["pools:read"])
    assert key.last_used_at is None
    before = timezone.now()
    api(token=secret).get("/api/v1/pools/")
    key.refresh_from_db()
    assert key.last_used_at >= before


def test_key_rules(provider, operator):
    user, org = provider
    with pytest.raises(ExchangeError) as err:
        api_key_create(actor=user, organisation=org, name="", scopes=[])
    assert set(err.value.fields) == {"name", "scopes"}
    with pytest.raises(ExchangeError) as err:
        api_key_create(actor=user, organisation=org, name="x", scopes=["everything"])
    assert err.value.fields["scopes"][0]["code"] == "invalid_choice"
    with pytest.raises(ExchangeError) as err:
        api_key_create(actor=user, organisation=org, name="x", scopes=["operator"])
    assert err.value.fields["scopes"][0]["code"] == "operator_scope"
    with pytest.raises(NotAllowed):
        api_key_create(actor=UserFactory(), organisation=org, name="x", scopes=["pools:read"])
    assert ApiKey.objects.count() == 0


def test_the_web_page_shows_the_secret_once(client, provider):
    user, org = provider
    client.force_login(user)
    r = client.post("/organisation/api-keys/", {"name": "erp", "scopes": ["pools:read", "catalog:read"]})
    body = r.content.decode()
    key = ApiKey.objects.get()
    assert f"sk_{key.lookup}_" in body and "will not be shown again" in body
    again = client.get("/organisation/api-keys/").content.decode()
    assert "will not be shown again" not in again and f"sk_{key.lookup}_…" in again


def test_a_key_request_skips_the_session_and_never_falls_back_to_one(api, provider, make_org):
    user, org = provider
    _, secret = api_key_create(actor=user, organisation=org, name="erp", scopes=["pools:read"])
    r = api(token=secret).get("/api/v1/me/")
    assert r.status_code == 200 and r.json()["organisation"]["slug"] == org.slug
    assert "Cookie" not in r.get("Vary", "") and not r.cookies  # no session read or written
    # a signed-in person whose request carries a wrong key is refused, not served by the session
    other_user, _ = make_org()
    signed_in = api(other_user)
    assert signed_in.get("/api/v1/me/").status_code == 200
    assert "Cookie" in signed_in.get("/api/v1/me/")["Vary"]  # the session path, as before
    signed_in.credentials(HTTP_AUTHORIZATION=f"Bearer {secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}")
    r = signed_in.get("/api/v1/me/")
    assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
