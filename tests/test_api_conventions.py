"""What every endpoint shares: error bodies, pagination, filtering, throttling, the schema."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from catalog.services import pool_apply
from tests.conftest import descriptor

pytestmark = pytest.mark.django_db


def test_unauthenticated(api):
    r = api().get("/api/v1/pools/")
    assert r.status_code == 401
    assert r.json() == {"code": "not_authenticated", "detail": "Authentication credentials were not provided.",
                        "fields": {}}  # fmt: skip


def test_not_found_and_validation_bodies(api, provider):
    user, _ = provider
    r = api(user).get("/api/v1/pools/999999/")
    assert r.status_code == 404 and r.json()["code"] == "not_found" and r.json()["fields"] == {}
    r = api(user).post("/api/v1/api-keys/", {"name": "", "scopes": ["nope"]})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "invalid"
    assert {k: [p["code"] for p in v] for k, v in body["fields"].items()} == {
        "name": ["blank"],
        "scopes.0": ["invalid_choice"],
    }


def test_malformed_json(api, provider):
    r = api(provider[0]).post("/api/v1/pools/", "{not json", content_type="application/json")
    assert r.status_code == 400 and r.json()["code"] == "parse_error"


def test_pagination_and_filters(api, provider):
    user, org = provider
    for i in range(3):
        pool_apply(actor=user, organisation=org, descriptor=descriptor(code=f"pool-{i}", tier="EDGE" if i else "MAIN"))
    r = api(user).get("/api/v1/pools/", {"page_size": 2})
    body = r.json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert api(user).get("/api/v1/pools/", {"tier": "EDGE"}).json()["count"] == 2
    r = api(user).get("/api/v1/pools/", {"tier": "SPACE"})
    assert r.status_code == 400 and "tier" in r.json()["fields"]


def test_filter_times_take_any_offset_python_reads(api, provider, fund):
    """PostgreSQL refuses offsets beyond ±15:59 and Python reads up to ±23:59: the filter gives the
    time on in UTC, so it filters instead of failing; a time UTC cannot hold is refused with its field."""
    user, org = provider
    fund(org, "100.00")
    shanghai_plus = timezone.get_fixed_timezone(18 * 60 + 7)
    before, after = (timezone.now() + timedelta(minutes=m) for m in (-5, 5))
    listed = lambda **q: api(user).get("/api/v1/postings/", q)  # noqa: E731
    r = listed(since=before.astimezone(shanghai_plus).isoformat())
    assert r.status_code == 200 and r.json()["count"] == 1, r.json()
    assert listed(since=after.astimezone(shanghai_plus).isoformat()).json()["count"] == 0
    r = listed(until="9999-12-31T23:30:00-05:00")
    assert r.status_code == 400 and [p["code"] for p in r.json()["fields"]["until"]] == ["invalid"]


def test_throttling_per_organisation(api, provider, monkeypatch):
    from config.api import OrganisationRateThrottle

    # mid-minute, always: the sliding window lets a burst straddling a minute's end through
    monkeypatch.setattr(OrganisationRateThrottle, "timer", lambda self: 60 * 28_000_000 + 30.0)
    user, _ = provider
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "organisation": "3/min"}
    cache.clear()
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        try:
            codes = [api(user).get("/api/v1/pools/").status_code for _ in range(4)]
            last = api(user).get("/api/v1/pools/")
        finally:
            cache.clear()
    assert codes == [200, 200, 200, 429]
    assert last.json()["code"] == "throttled" and int(last["Retry-After"]) > 0


def test_openapi_schema_and_docs_are_served_without_internet(client, provider):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    schema = r.json()
    assert "/api/v1/pools/{id}/verify/" in schema["paths"]
    assert "/api/v1/pools/{pool_id}/heartbeats/" in schema["paths"]
    docs = client.get("/api/docs/").content.decode()
    assert "cdn" not in docs.lower() and "/static/drf_spectacular_sidecar/" in docs


def test_schema_generation_has_no_warnings(capsys):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
