"""The orders API as a partner system uses it: an API key, Idempotency-Key, reason codes per field."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import ApiKey, Organisation
from accounts.services import api_key_create
from marketplace.api.serializers import OrderInSerializer, OrderSerializer, order_data, order_terms_quick
from marketplace.models import Order, OrderStatus
from marketplace.services import instrument_match
from settlement.models import Hold

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(market):
    out = {}
    for org in ("gridco", "acme", "bolt"):
        _, token = api_key_create(
            actor=market["users"][org],
            organisation=market["orgs"][org],
            name=f"{org}-erp",
            scopes=["orders:read", "orders:write"],
        )
        out[org] = token
    return out


@pytest.fixture
def as_org(api, keys):
    return lambda org: api(token=keys[org])


def body(market, **changes):
    return {"instrument": market["instrument"].code, "side": "buy", "type": "limit", "price": "12.00", "qty": 8,
            "tif": "GTC", **changes}  # fmt: skip


def test_place_list_read_and_cancel_through_the_api(market, as_org):
    acme, gridco = as_org("acme"), as_org("gridco")
    r = gridco.post("/api/v1/orders/", body(market, side="sell", qty=16), HTTP_IDEMPOTENCY_KEY="s1")
    assert r.status_code == 201, r.json()
    sell_id = r.json()["id"]
    r = acme.post("/api/v1/orders/", body(market, client_order_id="acme-1"), HTTP_IDEMPOTENCY_KEY="b1")
    assert r.status_code == 201 and r.json()["status"] == "pending" and r.json()["seq"] == 3
    buy_id = r.json()["id"]
    # a retry with the same key is the same order; no second hold
    again = acme.post("/api/v1/orders/", body(market, client_order_id="acme-1"), HTTP_IDEMPOTENCY_KEY="b1")
    assert again.json()["id"] == buy_id and Hold.objects.count() == 1
    instrument_match(instrument_id=market["instrument"].pk)

    detail = acme.get(f"/api/v1/orders/{buy_id}/").json()
    assert (detail["status"], detail["filled_qty"], detail["remaining"]) == ("filled", 8, 0)
    assert detail["fills"] == [
        {"trade": 1, "seq": 3, "price": "12.0000", "qty": 8, "role": "taker", "fee": "48.38",
         "notional": "16128.000000", "executed_at": detail["fills"][0]["executed_at"]}
    ]  # fmt: skip
    assert Decimal(detail["average_price"]) == Decimal("12")
    listed = acme.get("/api/v1/orders/", {"status": "filled", "client_order_id": "acme-1"}).json()
    assert [o["id"] for o in listed["results"]] == [buy_id]
    assert acme.get("/api/v1/orders/", {"status": "open"}).json()["results"] == []
    trades = acme.get("/api/v1/trades/").json()["results"]
    assert [(t["side"], t["qty"], t["fee"]) for t in trades] == [("buy", 8, "48.38")]
    contracts = acme.get("/api/v1/contracts/").json()["results"]
    assert [(c["qty"], c["held"], c["legs"][0]["units"], c["legs"][0]["pool"]) for c in contracts] == [
        (8, 8, 8, "gridco-1")
    ]

    r = gridco.post(f"/api/v1/orders/{sell_id}/cancel/")
    assert r.status_code == 202 and r.json()["cancel_requested_at"]
    instrument_match(instrument_id=market["instrument"].pk)
    assert Order.objects.get(pk=sell_id).status == OrderStatus.CANCELLED
    assert gridco.post(f"/api/v1/orders/{sell_id}/cancel/").json()["code"] == "order_finished"
    # another organisation's order does not exist for this key
    assert acme.get(f"/api/v1/orders/{sell_id}/").status_code == 404
    assert acme.post(f"/api/v1/orders/{sell_id}/cancel/").status_code == 404


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"price": "12.005"}, "price", "off_tick"),
        ({"price": "1.00"}, "price", "price_out_of_band"),
        ({"qty": 4}, "qty", "bad_lot"),
        ({"qty": 0}, "qty", "min_value"),
        ({"qty": 8000}, "qty", "insufficient_funds"),
        ({"side": "hold"}, "side", "invalid_choice"),
        ({"tif": "GTD"}, "expire_at", "bad_expiry"),
        ({"type": "market", "tif": "GTC"}, "price", "bad_market_order"),
        ({"instrument": "H100-80G.YRD.MAIN.20200106.W"}, "instrument", "unknown_instrument"),
        ({"price": "NaN"}, "price", "invalid"),
    ],
)
def test_bad_orders_are_refused_with_the_field_and_a_reason(market, as_org, changes, field, code):
    r = as_org("acme").post("/api/v1/orders/", body(market, **changes), HTTP_IDEMPOTENCY_KEY="x")
    assert r.status_code == 400, r.json()
    assert field in r.json()["fields"], r.json()
    assert code in {e["code"] for e in r.json()["fields"][field]}, r.json()
    assert not Order.objects.exists() and not Hold.objects.exists()


def test_an_order_needs_an_idempotency_key_and_a_scope(market, as_org, api):
    r = as_org("acme").post("/api/v1/orders/", body(market))
    assert r.json()["fields"]["Idempotency-Key"][0]["code"] == "idempotency_key_required"
    _, read_only = api_key_create(
        actor=market["users"]["acme"], organisation=market["orgs"]["acme"], name="ro", scopes=["orders:read"]
    )
    r = api(token=read_only).post("/api/v1/orders/", body(market), HTTP_IDEMPOTENCY_KEY="k")
    assert r.status_code == 403
    assert not Order.objects.exists()


def test_the_same_key_with_other_terms_is_a_conflict(market, as_org):
    acme = as_org("acme")
    assert acme.post("/api/v1/orders/", body(market), HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    r = acme.post("/api/v1/orders/", body(market, qty=16), HTTP_IDEMPOTENCY_KEY="k")
    assert (r.status_code, r.json()["code"]) == (409, "conflict")
    assert Order.objects.count() == 1


def test_a_batch_accepts_and_refuses_each_order_on_its_own(market, as_org):
    orders = [body(market), body(market, price="12.005"), body(market, qty="x"), body(market, side="sell")]
    r = as_org("acme").post("/api/v1/orders/batch/", {"orders": orders}, HTTP_IDEMPOTENCY_KEY="batch-1")
    assert r.status_code == 200
    results = r.json()
    assert [x["index"] for x in results] == [0, 1, 2, 3]
    assert results[0]["order"]["status"] == "pending" and results[0]["error"] is None
    assert results[1]["error"]["code"] == "off_tick"
    assert "qty" in results[2]["error"]["fields"]
    assert results[3]["error"]["code"] == "insufficient_capacity"  # acme holds no pools or contracts
    assert Order.objects.count() == 1
    # the same batch again: the same accepted order, nothing new
    again = as_org("acme").post("/api/v1/orders/batch/", {"orders": orders}, HTTP_IDEMPOTENCY_KEY="batch-1").json()
    assert again[0]["order"]["id"] == results[0]["order"]["id"] and Order.objects.count() == 1
    too_many = as_org("acme").post("/api/v1/orders/batch/", {"orders": [body(market)] * 101}, HTTP_IDEMPOTENCY_KEY="b2")
    assert too_many.status_code == 400 and "orders" in too_many.json()["fields"]


def test_a_refusal_says_the_tick_as_the_standard_writes_it(market, as_org):
    r = as_org("acme").post("/api/v1/orders/", body(market, price="12.005"), HTTP_IDEMPOTENCY_KEY="t")
    assert r.json()["fields"]["price"][0]["detail"] == "The price must be a multiple of 0.01."


# --- the quick reading and writing of orders equals the serializers' ----------------------------

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10, max_value=2 * 10**6),
    st.sampled_from(["", " ", "8", "8.0", "12.00", " 12.00", "12.00 ", "12.005", "1E+1", "NaN", "Infinity", "-1",
                     "123456789.1", "12345678.1234", "0.00001", "x", "buy", "sell", "limit", "market", "GTC",
                     "GTD", "IOC", "FOK", "hold", "gtc", "acme-1", " acme-1", "a\x00b", "订单-1", "a" * 65,
                     "H100-80G.YRD.MAIN.20261207.W", "2026-12-07T08:00:00+08:00", "2026-12-07T00:00:00Z",
                     "2026-12-07T08:00:00", "2026-13-07T08:00:00+08:00", "tomorrow"]),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=2),
)  # fmt: skip
_raw_orders = st.dictionaries(
    st.sampled_from(["instrument", "side", "type", "price", "qty", "tif", "expire_at", "client_order_id", "other"]),
    _values,
) | st.fixed_dictionaries(
    {"instrument": st.just("H100-80G.YRD.MAIN.20261207.W"), "side": st.sampled_from(["buy", "sell", "hold"]),
     "type": st.sampled_from(["limit", "market"]), "qty": _values, "tif": st.sampled_from(["GTC", "GTD", "FOK"])},
    optional={"price": _values, "expire_at": _values, "client_order_id": _values},
) | st.fixed_dictionaries(
    {"instrument": st.just("H100-80G.YRD.MAIN.20261207.W"), "side": st.sampled_from(["buy", "sell"]),
     "type": st.sampled_from(["limit", "market"]), "qty": st.integers(min_value=0, max_value=10**6 + 1),
     "tif": st.sampled_from(["GTC", "GTD", "IOC", "FOK"])},
    optional={
        "price": st.none() | st.decimals(min_value=0, max_value=10**9, places=5).map(lambda d: d.normalize())
        | st.decimals(min_value=0, max_value=10**9, places=4).map(str) | st.integers(min_value=0, max_value=10**9),
        "expire_at": st.none() | st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
        "client_order_id": st.text(max_size=70),
    },
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(raw=_raw_orders)
def test_the_quick_reading_of_an_order_is_the_serializers_or_defers_to_it(raw):
    quick = order_terms_quick(raw)
    s = OrderInSerializer(data=raw)
    if quick is not None:
        assert s.is_valid(), (raw, s.errors)
        assert quick == s.terms()


def test_the_quick_reading_covers_the_usual_orders():
    usual = {"instrument": "H100-80G.YRD.MAIN.20261207.W", "side": "buy", "type": "limit", "price": "12.00",
             "qty": 8, "tif": "GTD", "expire_at": "2026-12-06T08:00:00Z", "client_order_id": "acme-42"}  # fmt: skip
    for raw in (usual, {**usual, "price": Decimal("12.5")}, {**usual, "price": 12}, {**usual, "type": "market",
                "price": None, "tif": "IOC", "expire_at": None}):  # fmt: skip
        quick = order_terms_quick(raw)
        s = OrderInSerializer(data=raw)
        assert s.is_valid() and quick == s.terms()
    assert order_terms_quick({**usual, "price": "12.00 "}) is None  # the serializer reads that one


def test_an_orders_body_is_the_serializers_in_every_state(market, as_org):
    acme, gridco = as_org("acme"), as_org("gridco")
    later = (market["instrument"].window_start - timedelta(days=1)).isoformat()
    ids = [
        gridco.post("/api/v1/orders/", body(market, side="sell", qty=16), HTTP_IDEMPOTENCY_KEY="s").json()["id"],
        acme.post("/api/v1/orders/", body(market, price="11.00", tif="GTD", expire_at=later, client_order_id="c-1"),
                  HTTP_IDEMPOTENCY_KEY="g").json()["id"],
        acme.post("/api/v1/orders/", body(market, type="market", price=None, tif="IOC"),
                  HTTP_IDEMPOTENCY_KEY="m").json()["id"],
    ]  # fmt: skip
    instrument_match(instrument_id=market["instrument"].pk)
    assert acme.post(f"/api/v1/orders/{ids[1]}/cancel/").status_code == 202
    for pk in ids:
        order = Order.objects.select_related("instrument").get(pk=pk)
        assert order_data(order) == OrderSerializer(order).data
    statuses = set(Order.objects.values_list("status", flat=True))
    assert statuses == {"open", "filled"} and Order.objects.filter(filled_qty__gt=0).count() == 2


def test_a_batch_answers_as_the_order_reads_later(market, as_org):
    acme = as_org("acme")
    orders = [body(market, price="12.00"), body(market, price=Decimal("11.5")), body(market, qty="8")]
    results = acme.post("/api/v1/orders/batch/", {"orders": orders}, HTTP_IDEMPOTENCY_KEY="q").json()
    assert [r["error"] for r in results] == [None, None, None]
    for r in results:
        read = acme.get(f"/api/v1/orders/{r['order']['id']}/").json()
        assert {k: v for k, v in read.items() if k != "fills"} == r["order"]


def test_a_batch_sent_again_finds_its_orders_however_many(market, as_org):
    """The first run takes a batch's keys as new without looking them up; a repeat is refused by
    the orders' unique key (from a COPY, for this many) and runs again finding what it placed."""
    orders = [body(market, price=f"{12 + k * Decimal('0.01')}") for k in range(10)]
    first = as_org("acme").post("/api/v1/orders/batch/", {"orders": orders}, HTTP_IDEMPOTENCY_KEY="many").json()
    holds, placed = Hold.objects.count(), Order.objects.count()
    again = as_org("acme").post("/api/v1/orders/batch/", {"orders": orders}, HTTP_IDEMPOTENCY_KEY="many").json()
    assert [r["order"]["id"] for r in again] == [r["order"]["id"] for r in first]
    assert (Order.objects.count(), Hold.objects.count()) == (placed, holds) == (10, 10)
    changed = [dict(o, qty=16) if k == 3 else o for k, o in enumerate(orders)]
    other = as_org("acme").post("/api/v1/orders/batch/", {"orders": changed}, HTTP_IDEMPOTENCY_KEY="many").json()
    assert other[3]["error"]["code"] == "conflict" and other[4]["order"]["id"] == first[4]["order"]["id"]


def test_a_keys_creator_who_is_now_a_viewer_or_gone_places_no_orders(market, as_org):
    """The creator's role is read with the key on every request: a change applies at once."""
    from accounts.models import Membership

    acme = as_org("acme")
    assert acme.post("/api/v1/orders/", body(market), HTTP_IDEMPOTENCY_KEY="r1").status_code == 201
    membership = Membership.objects.get(user=market["users"]["acme"], organisation=market["orgs"]["acme"])
    membership.role = Membership.Role.VIEWER
    membership.save()
    r = acme.post("/api/v1/orders/", body(market), HTTP_IDEMPOTENCY_KEY="r2")
    assert (r.status_code, r.json()["code"]) == (403, "role_required")
    membership.delete()
    r = acme.post("/api/v1/orders/batch/", {"orders": [body(market)]}, HTTP_IDEMPOTENCY_KEY="r3")
    assert (r.status_code, r.json()["code"]) == (403, "role_required")
    assert Order.objects.count() == 1


def test_a_lowered_credit_limit_binds_the_next_order_though_the_key_was_read_just_before(market, as_org):
    """The API key, its organisation and role are kept a few seconds per process; the credit
    limit is not: it is read with the funds' lock (here changed as another process would)."""
    acme, org = as_org("acme"), market["orgs"]["acme"]
    Organisation.objects.filter(pk=org.pk).update(credit_limit=Decimal("1000000.00"))
    r = acme.post("/api/v1/orders/", body(market, qty=560), HTTP_IDEMPOTENCY_KEY="on-credit")
    assert r.status_code == 201, r.json()  # 1,128,960 + fee: beyond the 1,000,000 prepaid
    Organisation.objects.filter(pk=org.pk).update(credit_limit=Decimal("0.00"))
    r = acme.post("/api/v1/orders/", body(market), HTTP_IDEMPOTENCY_KEY="after")
    assert r.status_code == 400 and r.json()["fields"]["qty"][0]["code"] == "insufficient_funds"
    Organisation.objects.filter(pk=org.pk).update(credit_limit=Decimal("1000000.00"))
    assert acme.post("/api/v1/orders/", body(market), HTTP_IDEMPOTENCY_KEY="again").status_code == 201


def test_a_key_revoked_by_another_process_works_here_for_api_key_cache_seconds_at_most(
    market, as_org, settings, is_postgres
):
    if not is_postgres:
        pytest.skip("the key is kept on PostgreSQL's plain-query path; elsewhere read every time")
    acme = as_org("acme")
    # the first use records the key's last use, and the next reads it again with that time
    assert [acme.get("/api/v1/orders/").status_code for _ in range(2)] == [200, 200]
    ApiKey.objects.filter(organisation=market["orgs"]["acme"]).update(revoked_at=timezone.now())
    assert acme.get("/api/v1/orders/").status_code == 200  # as this process read it, moments ago
    settings.API_KEY_CACHE_SECONDS = 0
    r = acme.get("/api/v1/orders/")
    assert r.status_code == 401 and r.json()["code"] == "revoked_api_key"
