"""Grid connection through the API: apply, verify, machine keys, heartbeats, capacity."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from catalog.models import Heartbeat, Pool, PoolKey, PoolStatus, PoolTransition
from tests.conftest import descriptor

pytestmark = pytest.mark.django_db


def body(**overrides):
    """A descriptor as a client sends it: numbers as JSON numbers."""
    d = descriptor()
    d = {
        **d,
        "location": {k: float(v) for k, v in d["location"].items()},
        "rtt_ms": float(d["rtt_ms"]),
        "pue": float(d["pue"]),
        "green_power_share": float(d["green_power_share"]),
    }
    d.update(overrides)
    return d


def apply(api, user, **overrides):
    return api(user).post("/api/v1/pools/", body(**overrides), format="json")


def test_provider_applies_and_the_pool_is_stored_exactly(api, provider):
    user, org = provider
    r = apply(api, user)
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "applied"
    assert body["provider"] == org.slug
    assert body["pue"] == "1.25"
    assert body["location"] == {"latitude": "30.898000", "longitude": "121.927000"}
    assert body["resources"] == [
        {"resource_class": "H100-80G", "units": 64},
        {"resource_class": "VCPU-X86", "units": 1024},
    ]
    pool = Pool.objects.get(pk=body["id"])
    assert [(t.from_status, t.to_status, t.actor_id, t.reason_code) for t in pool.transitions.all()] == [
        ("", "applied", user.pk, "application")
    ]


def test_invalid_descriptor_is_refused_field_by_field_and_changes_nothing(api, provider):
    user, _ = provider
    r = api(user).post(
        "/api/v1/pools/",
        body(pue=3.5, region="MARS", resources=[{"class": "L40S", "units": 0}]),
        format="json",
    )
    assert r.status_code == 400
    error = r.json()
    assert error["code"] == "invalid_descriptor"
    assert {k: [p["code"] for p in v] for k, v in error["fields"].items()} == {
        "pue": ["max_value"],
        "region": ["invalid_choice"],
        "resources.0.units": ["min_value"],
    }
    assert Pool.objects.count() == 0
    assert PoolTransition.objects.count() == 0


def test_json_floats_become_exact_decimals(api, provider):
    user, _ = provider
    r = api(user).post(
        "/api/v1/pools/",
        '{"code":"abc","name":"n","region":"YRD","tier":"EDGE","city":"Shanghai",'
        '"location":{"latitude":31.1,"longitude":121.3},"rtt_ms":0.1,"resources":[{"class":"L40S","units":8}],'
        '"pue":1.1,"green_power_share":0.3,"security_level":2,"data_residency":false}',
        content_type="application/json",
    )
    assert r.status_code == 201, r.json()
    pool = Pool.objects.get()
    assert str(pool.rtt_ms) == "0.10" and str(pool.pue) == "1.10" and str(pool.green_power_share) == "0.300"


def test_duplicate_code_is_refused_for_the_same_provider_only(api, provider, other_provider):
    assert apply(api, provider[0]).status_code == 201
    r = apply(api, provider[0])
    assert r.status_code == 400
    assert r.json()["fields"]["code"][0]["code"] == "duplicate"
    assert apply(api, other_provider[0]).status_code == 201


def test_a_buyer_only_organisation_cannot_connect_pools(api, make_org, reference_data):
    user, _ = make_org(provider=False)
    r = apply(api, user)
    assert r.status_code == 403
    assert r.json()["code"] == "not_a_provider"


def test_a_viewer_cannot_apply(api, make_org, reference_data):
    user, _ = make_org(provider=True, role="viewer")
    r = apply(api, user)
    assert r.status_code == 403
    assert Pool.objects.count() == 0


def test_schema_is_served_and_is_what_the_api_enforces(client, reference_data):
    r = client.get("/api/v1/standards/grid-connection.schema.json")
    assert r.status_code == 200
    schema = r.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["region"]["enum"] == ["CY", "GBA", "GS", "GZ", "JJJ", "NMG", "NX", "YRD"]
    assert schema["properties"]["pue"] == {"type": "number", "minimum": 1, "maximum": 3}
    assert set(schema["required"]) == {
        "code", "name", "region", "tier", "city", "location", "rtt_ms", "resources",
        "pue", "green_power_share", "security_level", "data_residency",
    }  # fmt: skip


def _verified_pool_with_key(api, provider, operator):
    user, _ = provider
    pool_id = apply(api, user).json()["id"]
    r = api(operator).post(f"/api/v1/pools/{pool_id}/verify/", {"reason": "inspected"}, format="json")
    assert r.status_code == 200, r.json()
    r = api(user).post(f"/api/v1/pools/{pool_id}/keys/", {"name": "rack-1"}, format="json")
    assert r.status_code == 201
    return pool_id, r.json()["key"]


def beat(api, pool_id, key, ts, **kw):
    body = {"ts": ts.isoformat(), "available": kw.get("available", {"H100-80G": 60}), "health": kw.get("health", "ok")}
    return api(token=key).post(f"/api/v1/pools/{pool_id}/heartbeats/", body, format="json")


def test_whole_connection_journey(api, provider, operator):
    pool_id, key = _verified_pool_with_key(api, provider, operator)
    assert key.startswith("pk_")
    stored = PoolKey.objects.get()
    assert key not in (stored.digest, stored.lookup) and len(stored.digest) == 64

    ts = timezone.now().replace(microsecond=0)
    r = beat(api, pool_id, key, ts)
    assert r.status_code == 201, r.json()
    pool = Pool.objects.get(pk=pool_id)
    assert pool.status == PoolStatus.CONNECTED
    assert pool.last_heartbeat_at == ts
    assert [t.reason_code for t in pool.transitions.all()] == ["application", "operator_verified", "first_heartbeat"]

    start = ts.replace(minute=0, second=0)
    r = api(provider[0]).get(
        f"/api/v1/pools/{pool_id}/capacity/",
        {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat(), "resource_class": "H100-80G"},
    )
    assert r.status_code == 200
    assert [(row["installed"], row["committed"], row["offered"], row["sellable"]) for row in r.json()] == [
        (64, 0, 0, 64),
        (64, 0, 0, 64),
    ]
    assert AuditEvent.objects.filter(action="pool.verify", actor=operator).count() == 1


def test_heartbeats_are_idempotent_by_pool_and_ts(api, provider, operator):
    pool_id, key = _verified_pool_with_key(api, provider, operator)
    ts = timezone.now().replace(microsecond=0)
    assert beat(api, pool_id, key, ts).status_code == 201
    assert beat(api, pool_id, key, ts).status_code == 200
    assert Heartbeat.objects.count() == 1
    r = beat(api, pool_id, key, ts, health="degraded")
    assert r.status_code == 409
    assert r.json()["code"] == "conflict"
    assert Heartbeat.objects.get().health == "ok"


def test_an_older_heartbeat_does_not_move_last_heartbeat_back(api, provider, operator):
    pool_id, key = _verified_pool_with_key(api, provider, operator)
    ts = timezone.now().replace(microsecond=0)
    beat(api, pool_id, key, ts)
    assert beat(api, pool_id, key, ts - timedelta(minutes=1)).status_code == 201
    assert Pool.objects.get(pk=pool_id).last_heartbeat_at == ts


def test_a_key_of_another_pool_is_refused(api, provider, operator):
    pool_a, key_a = _verified_pool_with_key(api, provider, operator)
    pool_b = apply(api, provider[0], code="second-pool").json()["id"]
    r = beat(api, pool_b, key_a, timezone.now())
    assert r.status_code == 403
    assert r.json()["code"] == "wrong_pool"
    assert Heartbeat.objects.count() == 0


def test_organisation_api_keys_and_sessions_cannot_send_heartbeats(api, provider, operator):
    pool_id, _ = _verified_pool_with_key(api, provider, operator)
    r = api(provider[0]).post(
        f"/api/v1/pools/{pool_id}/heartbeats/", {"ts": timezone.now().isoformat(), "available": {}, "health": "ok"}
    )
    assert r.status_code == 403
    assert Heartbeat.objects.count() == 0


@pytest.mark.parametrize("token", ["pk_000000000000_nope", "pk_short", "pk_"])
def test_unknown_machine_keys_are_unauthorised(api, provider, operator, token):
    pool_id, _ = _verified_pool_with_key(api, provider, operator)
    r = beat(api, pool_id, token, timezone.now())
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_pool_key"


def test_revoked_and_rotated_keys(api, provider, operator):
    user, _ = provider
    pool_id, key = _verified_pool_with_key(api, provider, operator)
    key_id = PoolKey.objects.get().pk
    r = api(user).post(f"/api/v1/pools/{pool_id}/keys/{key_id}/rotate/")
    assert r.status_code == 201
    new_key = r.json()["key"]
    assert new_key != key
    r = beat(api, pool_id, key, timezone.now())
    assert r.status_code == 401 and r.json()["code"] == "revoked_pool_key"
    assert beat(api, pool_id, new_key, timezone.now()).status_code == 201
    new_id = PoolKey.objects.get(revoked_at__isnull=True).pk
    assert PoolKey.objects.get(pk=key_id).replaced_by_id == new_id
    assert api(user).post(f"/api/v1/pools/{pool_id}/keys/{new_id}/revoke/").status_code == 200
    assert beat(api, pool_id, new_key, timezone.now()).status_code == 401
    listed = api(user).get(f"/api/v1/pools/{pool_id}/keys/").json()
    assert {k["id"] for k in listed} == {key_id, new_id} and all("key" not in k for k in listed)


def test_heartbeat_validation(api, provider, operator):
    pool_id, key = _verified_pool_with_key(api, provider, operator)
    client = api(token=key)
    url = f"/api/v1/pools/{pool_id}/heartbeats/"
    now = timezone.now()
    cases = [
        ({"ts": (now + timedelta(minutes=10)).isoformat(), "available": {}, "health": "ok"}, "ts", "ts_in_future"),
        ({"ts": "2026-12-01T02:00:00", "available": {}, "health": "ok"}, "ts", "naive_datetime"),
        ({"ts": now.isoformat(), "available": {"L40S": 1}, "health": "ok"}, "available.L40S", "unknown_class"),
        ({"ts": now.isoformat(), "available": {"H100-80G": 65}, "health": "ok"}, "available.H100-80G", "out_of_range"),
        ({"ts": now.isoformat(), "available": {}, "health": "fine"}, "health", "invalid_choice"),
        ({"ts": now.isoformat(), "available": {}, "health": "ok", "pool": "other"}, "pool", "pool_mismatch"),
    ]
    for body, field, code in cases:
        r = client.post(url, body, format="json")
        assert r.status_code == 400, (body, r.json())
        assert r.json()["fields"][field][0]["code"] == code, r.json()
    assert Heartbeat.objects.count() == 0
    assert Pool.objects.get(pk=pool_id).status == PoolStatus.VERIFIED


def test_heartbeat_before_verification_is_refused(api, provider):
    user, _ = provider
    pool_id = apply(api, user).json()["id"]
    key = api(user).post(f"/api/v1/pools/{pool_id}/keys/", {}, format="json").json()["key"]
    r = beat(api, pool_id, key, timezone.now())
    assert r.status_code == 409 and r.json()["code"] == "pool_not_verified"


def test_only_operators_with_mfa_verify(api, provider, make_org):
    from accounts.models import Membership, Organisation

    user, _ = provider
    pool_id = apply(api, user).json()["id"]
    assert api(user).post(f"/api/v1/pools/{pool_id}/verify/").status_code in (403, 404)
    # a platform member without TOTP
    op_user, _ = make_org()
    platform = Organisation.objects.create(name="P", slug="p", is_platform=True)
    Membership.objects.create(user=op_user, organisation=platform, role="owner")
    client = api(op_user)
    client.post("/organisations/switch/", {"organisation": platform.pk})
    assert client.post(f"/api/v1/pools/{pool_id}/verify/").status_code in (403, 404)
    assert Pool.objects.get(pk=pool_id).status == PoolStatus.APPLIED


def test_operator_suspend_needs_a_reason_and_resume_reconnects(api, provider, operator):
    pool_id, key = _verified_pool_with_key(api, provider, operator)
    beat(api, pool_id, key, timezone.now())
    op = api(operator)
    r = op.post(f"/api/v1/pools/{pool_id}/suspend/", {"reason": " "}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "reason_required"
    assert op.post(f"/api/v1/pools/{pool_id}/suspend/", {"reason": "fire drill"}, format="json").status_code == 200
    # the operator's suspension is not lifted by a heartbeat
    beat(api, pool_id, key, timezone.now() + timedelta(seconds=1))
    assert Pool.objects.get(pk=pool_id).status == PoolStatus.SUSPENDED
    assert op.post(f"/api/v1/pools/{pool_id}/resume/", {"reason": "drill over"}, format="json").status_code == 200
    assert Pool.objects.get(pk=pool_id).status == PoolStatus.CONNECTED
    transitions = api(provider[0]).get(f"/api/v1/pools/{pool_id}/transitions/").json()
    assert [(t["to_status"], t["actor_label"], t["reason"]) for t in transitions][-2:] == [
        ("suspended", "op@suanli.test", "fire drill"),
        ("connected", "op@suanli.test", "drill over"),
    ]


def test_withdraw(api, provider, operator):
    pool_id, key = _verified_pool_with_key(api, provider, operator)
    # a body that is not an object is refused, and the pool stays connected
    r = api(provider[0]).post(f"/api/v1/pools/{pool_id}/withdraw/", [None, None], format="json")
    assert r.status_code == 400 and r.json()["code"] == "invalid", r.json()
    assert Pool.objects.get(pk=pool_id).status == PoolStatus.VERIFIED
    r = api(provider[0]).post(f"/api/v1/pools/{pool_id}/withdraw/", {"reason": "site closed"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "disconnected"
    r = beat(api, pool_id, key, timezone.now())
    assert r.status_code == 409 and r.json()["code"] == "pool_disconnected"
    r = api(operator).post(f"/api/v1/pools/{pool_id}/resume/", {"reason": "x"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_numbers_are_refused(api, provider, constant):
    raw = json.dumps(body()).replace('"pue": 1.25', f'"pue": {constant}')
    r = api(provider[0]).post("/api/v1/pools/", raw, content_type="application/json")
    assert r.status_code == 400 and r.json()["code"] == "parse_error"
    assert Pool.objects.count() == 0
