"""/api/v1/demands/: 201 with the Idempotency-Key, 400 with each field's reason code and nothing
stored, 404 for another organisation's demand, the proposal's breakdown as exact strings, confirm
(409 with the part's reason when refused), cancel, filters, API-key scopes."""

from decimal import Decimal

import pytest

from accounts.services import api_key_create
from marketplace.models import Demand, DemandStatus, Reservation
from marketplace.services import ReservationTerms, reservation_place
from marketplace.services.scheduling import scheduling_round
from tests.marketplace.scheduling_setup import NEXT, H, list_on

pytestmark = pytest.mark.django_db


def body(**overrides) -> dict:
    d = {"resource_class": "H100-80G", "units": 8, "hours": 4, "earliest_start": NEXT.isoformat(),
         "latest_finish": (NEXT + 4 * H).isoformat(), "city": "SH", "max_rtt_ms": 40,
         "carbon_weight": "0.5"}  # fmt: skip
    d.update(overrides)
    return d


def post(client, data, key="k1"):
    return client.post("/api/v1/demands/", data, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_state_read_confirm_a_demand(api, sched):
    listing = list_on(sched, "yrd_open", price="13.0000", units=8)
    acme = api(sched["users"]["acme"])
    r = post(acme, body())
    assert r.status_code == 201, r.json()
    created = r.json()
    assert created["status"] == "submitted" and created["proposal"] is None
    assert created["resource_class"] == "H100-80G" and created["carbon_weight"] == "0.5000"
    assert post(acme, body()).json()["id"] == created["id"]  # the same key: the same demand
    assert post(acme, body(units=4)).status_code == 409
    scheduling_round()
    shown = acme.get(f"/api/v1/demands/{created['id']}/").json()
    assert shown["status"] == "proposed"
    proposal = shown["proposal"]
    # 8 units × 4 h at 13.00 = 416.00; energy, carbon at YRD figures; every amount an exact string
    assert proposal["price_cost"] == "416.00" and proposal["status"] == "open"
    (part,) = proposal["parts"]
    assert (part["listing"], part["units"], part["region"], part["tier"], part["rtt_ms"]) == (listing.pk, 8, "YRD",
                                                                                          "MAIN", 3)  # fmt: skip
    total = Decimal(proposal["price_cost"]) + Decimal(proposal["energy_cost"]) + Decimal(proposal["carbon_cost"])
    assert Decimal(proposal["total"]) == total
    assert Decimal(proposal["carbon_cost"]) == Decimal("0.5") * Decimal(proposal["carbon_kg"])
    assert proposal["cheapest_single"]["offer"] == f"listing:{listing.pk}"
    assert proposal["saving"] == "0.00" and proposal["saving_percent"] == "0.00"
    r = acme.post(f"/api/v1/demands/{created['id']}/confirm/")
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "confirmed"
    reservation = Reservation.objects.get(buyer=sched["orgs"]["acme"])
    assert r.json()["proposal"]["parts"][0]["reservation"] == reservation.pk
    assert acme.get("/api/v1/demands/", {"status": "confirmed"}).json()["count"] == 1
    assert acme.get("/api/v1/demands/", {"status": "submitted"}).json()["count"] == 0


def test_bad_fields_answer_400_with_reason_codes_and_store_nothing(api, sched):
    acme = api(sched["users"]["acme"])
    r = post(acme, body(units=0, city="XX", residency="MARS", regions=["YRD"], max_price="0"))
    assert r.status_code == 400
    assert {f: [p["code"] for p in v] for f, v in r.json()["fields"].items()} == {
        "units": ["min_value"], "city": ["unknown_city"], "residency": ["unknown_region"], "max_price": ["min_value"]
    }  # fmt: skip
    r = post(acme, body(hours="many"))
    assert r.status_code == 400 and r.json()["fields"]["hours"][0]["code"] == "invalid"
    r = post(acme, body(hours=4728006171244))  # no window can hold it: refused, not computed
    assert r.status_code == 400 and [p["code"] for p in r.json()["fields"]["hours"]] == ["max_value"]
    r = acme.post("/api/v1/demands/", body(), format="json")
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"
    assert Demand.objects.count() == 0


def test_another_organisations_demand_is_not_found(api, sched):
    acme, bolt = api(sched["users"]["acme"]), api(sched["users"]["bolt"])
    demand_id = post(acme, body()).json()["id"]
    assert bolt.get(f"/api/v1/demands/{demand_id}/").status_code == 404
    assert bolt.post(f"/api/v1/demands/{demand_id}/confirm/").status_code == 404
    assert bolt.post(f"/api/v1/demands/{demand_id}/cancel/").status_code == 404
    assert bolt.get("/api/v1/demands/").json()["count"] == 0
    assert Demand.objects.get().status == DemandStatus.SUBMITTED


def test_confirm_refused_answers_409_and_cancel(api, sched):
    listing = list_on(sched, "yrd_open", units=8)
    acme = api(sched["users"]["acme"])
    demand_id = post(acme, body()).json()["id"]
    assert acme.post(f"/api/v1/demands/{demand_id}/confirm/").json()["code"] == "not_proposed"
    scheduling_round()
    reservation_place(
        actor=sched["users"]["bolt"], organisation=sched["orgs"]["bolt"], idempotency_key="r",
        terms=ReservationTerms(listing_id=listing.pk, units=1, start=NEXT, end=NEXT + H),
    )  # fmt: skip
    r = acme.post(f"/api/v1/demands/{demand_id}/confirm/")
    assert r.status_code == 409 and r.json()["fields"]["proposal"][0]["code"] == "insufficient_capacity"
    shown = acme.get(f"/api/v1/demands/{demand_id}/").json()
    assert shown["status"] == "submitted" and shown["proposal"]["status"] == "refused"
    r = acme.post(f"/api/v1/demands/{demand_id}/cancel/")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert acme.post(f"/api/v1/demands/{demand_id}/cancel/").status_code == 200
    assert acme.post(f"/api/v1/demands/{demand_id}/confirm/").status_code == 409


def test_api_keys_need_the_demands_scopes(api, sched):
    user, org = sched["users"]["acme"], sched["orgs"]["acme"]
    _, read_only = api_key_create(actor=user, organisation=org, name="r", scopes=["demands:read"])
    _, retail = api_key_create(actor=user, organisation=org, name="x", scopes=["retail:write", "retail:read"])
    assert post(api(token=read_only), body()).status_code == 403
    assert api(token=read_only).get("/api/v1/demands/").status_code == 200
    assert api(token=retail).get("/api/v1/demands/").status_code == 403
    _, writer = api_key_create(actor=user, organisation=org, name="w", scopes=["demands:write"])
    assert post(api(token=writer), body()).status_code == 201


def test_the_schema_documents_the_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/v1/demands/", "/api/v1/demands/{id}/", "/api/v1/demands/{id}/confirm/",
                 "/api/v1/demands/{id}/cancel/"):  # fmt: skip
        assert path in schema["paths"], path
