"""The retail API: listings (own and browse), reservations with Idempotency-Key, cancel, scopes,
error bodies."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import api_key_create
from marketplace.models import Reservation
from settlement.models import Hold
from tests.marketplace.conftest import connected_pool

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


@pytest.fixture
def shop(make_org, reference_data, operator, fund):
    gridco_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    fund(acme, "10000.00")
    pool = connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-1", units=14)
    edge = connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-edge", units=8,
                          tier="EDGE")  # fmt: skip
    start = (timezone.now() + 2 * H).replace(minute=0, second=0, microsecond=0)
    return {"provider": gridco_user, "buyer": acme_user, "pool": pool, "edge": edge, "start": start, "acme": acme}


def listing_body(shop, **overrides):
    body = {"pool": shop["pool"].pk, "resource_class": "H100-80G", "units": 8, "price": "21.3600",
            "billing": "per_time", "minimum_minutes": 60,
            "available_until": (shop["start"] + 48 * H).isoformat()}  # fmt: skip
    return body | overrides


def post_listing(api, shop, **overrides):
    return api(shop["provider"]).post("/api/v1/listings/", listing_body(shop, **overrides), format="json")


def reserve(client, listing_id, start, *, hours=1, units=2, key="r-1"):
    body = {"listing": listing_id, "units": units, "start": start.isoformat(), "end": (start + hours * H).isoformat()}
    return client.post("/api/v1/reservations/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_provider_lists_reads_and_withdraws(api, shop):
    r = post_listing(api, shop)
    assert r.status_code == 201, r.json()
    listing = r.json()
    assert (listing["pool_code"], listing["region"], listing["tier"], listing["price"], listing["status"]) == (
        "gridco-1", "YRD", "MAIN", "21.3600", "active",
    )  # fmt: skip
    client = api(shop["provider"])
    assert client.get("/api/v1/listings/").json()["count"] == 1
    assert client.get(f"/api/v1/listings/{listing['id']}/").json()["units"] == 8
    r = client.post(f"/api/v1/listings/{listing['id']}/withdraw/")
    assert (r.status_code, r.json()["status"]) == (200, "withdrawn")
    assert client.get("/api/v1/listings/", {"status": "active"}).json()["count"] == 0


def test_a_price_below_cost_is_refused_with_its_field(api, shop):
    r = post_listing(api, shop, price="10.0637")
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "below_cost_floor"
    assert [p["code"] for p in body["fields"]["price"]] == ["below_cost_floor"]
    r = post_listing(api, shop, minimum_minutes=30)
    assert (r.status_code, r.json()["code"], list(r.json()["fields"])) == (400, "bad_duration", ["minimum_minutes"])
    r = post_listing(api, shop, price="12.00001")
    assert (r.status_code, r.json()["code"], list(r.json()["fields"])) == (400, "invalid", ["price"])


def test_buyers_browse_open_listings_with_filters(api, shop):
    post_listing(api, shop)
    post_listing(api, shop, pool=shop["edge"].pk, billing="per_volume", minimum_minutes=15, units=4)
    client = api(shop["buyer"])
    everything = client.get("/api/v1/listings/browse/").json()
    assert everything["count"] == 2
    assert "pool_code" not in everything["results"][0] and everything["results"][0]["provider"] == "GridCo"
    assert [x["tier"] for x in client.get("/api/v1/listings/browse/", {"tier": "EDGE"}).json()["results"]] == ["EDGE"]
    assert client.get("/api/v1/listings/browse/", {"billing": "per_volume"}).json()["count"] == 1
    assert client.get("/api/v1/listings/browse/", {"resource_class": "A800-80G"}).json()["count"] == 0
    assert client.get("/api/v1/listings/browse/", {"region": "YRD"}).json()["count"] == 2
    # the buyer's own listings: none
    assert client.get("/api/v1/listings/").json()["count"] == 0


def test_reserving_is_idempotent_by_key_and_conflicts_on_other_terms(api, shop):
    listing = post_listing(api, shop).json()
    client = api(shop["buyer"])
    first = reserve(client, listing["id"], shop["start"])
    assert first.status_code == 201, first.json()
    body = first.json()
    assert (body["status"], body["hold_amount"], body["pool"], body["units"]) == ("confirmed", "42.72", "gridco-1", 2)
    again = reserve(client, listing["id"], shop["start"])
    assert (again.status_code, again.json()["id"]) == (201, body["id"])
    assert Reservation.objects.count() == 1 and Hold.objects.count() == 1
    other = reserve(client, listing["id"], shop["start"], units=3)
    assert (other.status_code, other.json()["code"]) == (409, "conflict")
    missing = client.post("/api/v1/reservations/", {"listing": listing["id"]}, format="json")
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_required")


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"units": 9}, "insufficient_capacity", "units"),
        ({"units": 8, "hours": 60}, "outside_availability", "start"),
        ({"units": 2, "hours": 0.5}, "bad_duration", "end"),
    ],
)
def test_refusals_carry_the_reason_code_and_field(api, shop, kwargs, code, field):
    listing = post_listing(api, shop).json()
    r = reserve(api(shop["buyer"]), listing["id"], shop["start"], **kwargs)
    assert r.status_code == 400
    assert (r.json()["code"], list(r.json()["fields"])) == (code, [field])


def test_a_buyer_lists_filters_and_cancels_its_reservations(api, shop):
    listing = post_listing(api, shop).json()
    client = api(shop["buyer"])
    a = reserve(client, listing["id"], shop["start"], key="a").json()
    reserve(client, listing["id"], shop["start"] + 2 * H, key="b")
    assert client.get("/api/v1/reservations/").json()["count"] == 2
    r = client.post(f"/api/v1/reservations/{a['id']}/cancel/")
    assert (r.status_code, r.json()["status"], r.json()["actual_end"]) == (200, "cancelled", None)
    assert Hold.objects.get(pk=a["hold_id"]).status == "closed"
    assert client.get("/api/v1/reservations/", {"status": "confirmed"}).json()["count"] == 1
    assert client.get(f"/api/v1/reservations/{a['id']}/").json()["status"] == "cancelled"
    # the provider sees none of the buyer's reservations as its own
    assert api(shop["provider"]).get(f"/api/v1/reservations/{a['id']}/").status_code == 404


def test_scopes_retail_read_and_write(api, shop):
    listing = post_listing(api, shop).json()
    _, read_only = api_key_create(actor=shop["buyer"], organisation=shop["acme"], name="r", scopes=["retail:read"])
    client = api(token=read_only)
    assert client.get("/api/v1/listings/browse/").status_code == 200
    r = reserve(client, listing["id"], shop["start"])
    assert r.status_code == 403 and "retail:write" in r.json()["detail"]
    _, orders_only = api_key_create(actor=shop["buyer"], organisation=shop["acme"], name="o", scopes=["orders:read"])
    assert api(token=orders_only).get("/api/v1/reservations/").status_code == 403
    _, writer = api_key_create(actor=shop["buyer"], organisation=shop["acme"], name="w",
                               scopes=["retail:read", "retail:write"])  # fmt: skip
    assert reserve(api(token=writer), listing["id"], shop["start"]).status_code == 201


def test_numbers_stay_exact(api, shop):
    r = post_listing(api, shop, price=Decimal("10.0638"))
    assert r.json()["price"] == "10.0638"
