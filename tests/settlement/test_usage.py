"""Metering (trading standard §6.2): usage records in batches, validated, stored once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.services import pool_key_create
from marketplace.models import Billing, Contract, Instrument
from marketplace.services import OrderTerms, instrument_match, order_place
from settlement.models import UsageRecord
from settlement.services import usage_ingest
from tests.concurrency import race
from tests.marketplace.conftest import connected_pool
from tests.marketplace.test_retail import NOW, H, list_, reserve

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(market):
    """Acme holds a contract for 8 H100 from GridCo's pool, whose week started two days ago."""
    for org, side, qty, price in (("gridco", "sell", 16, "12.00"), ("acme", "buy", 8, "12.10")):
        terms = OrderTerms(
            instrument=market["instrument"].code, side=side, type="limit", qty=qty, tif="GTC", price=Decimal(price)
        )
        order_place(actor=market["users"][org], organisation=market["orgs"][org], terms=terms, idempotency_key=org)
    instrument_match(instrument_id=market["instrument"].pk)
    contract = Contract.objects.get()
    # The window has been running for two days (instruments are only listed before their window).
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    Instrument.objects.filter(pk=market["instrument"].pk).update(
        window_start=start, window_end=start + timedelta(days=7)
    )
    return {**market, "contract": contract, "start": start}


def rec(d, record_id="r1", *, hours=(0, 1), quantity="28800", **overrides):
    start = d["start"] + timedelta(hours=hours[0])
    raw = {
        "record_id": record_id,
        "contract": d["contract"].pk,
        "meter": "gpu_seconds",
        "quantity": quantity,
        "start": start.isoformat(),
        "end": (d["start"] + timedelta(hours=hours[1])).isoformat(),
    }
    raw.update(overrides)
    return raw


def ingest(d, records, pool="gridco"):
    return usage_ingest(pool=d["pools"][pool], records=records)


def outcome(results):
    return [(r.status, r.error.code if r.error else None) for r in results]


def test_records_are_stored_once_and_repeats_change_nothing(delivered):
    d = delivered
    first = ingest(d, [rec(d, "r1"), rec(d, "r2", hours=(1, 2)), rec(d, "r1"), rec(d, "r2", hours=(1, 3))])
    assert outcome(first) == [("accepted", None), ("accepted", None), ("duplicate", None), ("rejected", "conflict")]
    again = ingest(d, [rec(d, "r2", hours=(1, 2)), rec(d, "r1", quantity="28800.000000"), rec(d, "r3", hours=(2, 3))])
    assert outcome(again) == [("duplicate", None), ("duplicate", None), ("accepted", None)]
    changed = ingest(d, [rec(d, "r1", quantity="28799"), rec(d, "r3", hours=(2, 3), meter="vcpu_seconds")])
    assert outcome(changed) == [("rejected", "conflict"), ("rejected", "wrong_meter")]

    stored = UsageRecord.objects.order_by("record_id")
    assert [(u.record_id, u.quantity) for u in stored] == [(f"r{i}", Decimal("28800")) for i in (1, 2, 3)]
    assert {u.buyer for u in stored} == {d["orgs"]["acme"]}
    assert {u.provider for u in stored} == {d["orgs"]["gridco"]}


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"record_id": ""}, "record_id", "required"),
        ({"record_id": "x" * 101}, "record_id", "max_length"),
        ({"contract": "7"}, "contract", "invalid"),
        ({"meter": None}, "meter", "required"),
        ({"quantity": "-1"}, "quantity", "min_value"),
        ({"quantity": "1.0000001"}, "quantity", "max_decimal_places"),
        ({"quantity": "NaN"}, "quantity", "invalid"),
        ({"quantity": 1.5}, "quantity", "invalid"),  # a float: never for quantities
        ({"quantity": "1e30"}, "quantity", "max_digits"),
        ({"start": "2026-12-01T00:00:00"}, "start", "invalid"),  # no time zone
        ({"end": "yesterday"}, "end", "invalid"),
        ({"hours": (2, 2)}, "end", "bad_interval"),
        ({"meter": "vcpu_seconds"}, "meter", "wrong_meter"),
        ({"hours": (-1, 1)}, "start", "outside_delivery"),
        ({"hours": (47, 50)}, "end", "in_future"),
        ({"quantity": "28800.000001"}, "quantity", "exceeds_units"),  # 8 units × 3600 s
    ],
)
def test_each_refusal_names_its_field_and_reason_and_stores_nothing(delivered, overrides, field, code):
    d = delivered
    hours = overrides.pop("hours", (0, 1))
    quantity = overrides.pop("quantity", "28800")
    (result,) = ingest(d, [rec(d, hours=hours, quantity=quantity, **overrides)])
    assert (result.status, result.error.code) == ("rejected", code)
    assert field in result.error.fields
    assert not UsageRecord.objects.exists()


def test_a_contract_is_only_reported_by_a_pool_that_delivers_it(delivered, make_org, operator):
    d = delivered
    (result,) = ingest(d, [rec(d)], pool="westdc")  # WestDC sold nothing to this contract
    assert (result.status, result.error.code) == ("rejected", "not_found")
    (result,) = ingest(d, [rec(d, contract=d["contract"].pk + 999)])
    assert result.error.code == "not_found"
    assert not UsageRecord.objects.exists()


def test_a_batch_is_one_to_a_thousand_records(delivered):
    d = delivered
    for records, code in (([], "required"), (None, "required"), ([rec(d)] * 1001, "max_length")):
        with pytest.raises(Exception) as exc:
            ingest(d, records)
        assert exc.value.fields["records"][0]["code"] == code


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_stored_records_cannot_be_changed_or_deleted(delivered):
    ingest(delivered, [rec(delivered)])
    for change in (
        lambda: UsageRecord.objects.update(quantity=1),
        lambda: UsageRecord.objects.all().delete(),
    ):
        with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
            change()
    assert UsageRecord.objects.get().quantity == Decimal("28800")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_batches_with_the_same_ids_store_each_record_once(delivered):
    d = delivered
    batches = [[rec(d, f"r{j}", hours=(j, j + 1)) for j in range(20)] for _ in range(6)]
    batches[5][7] = rec(d, "r7", hours=(7, 8), quantity="1")  # one of them differs
    for batch in batches[::2]:
        batch.reverse()  # the same ids in the other order: the inserts must not deadlock
    results = {}

    def run(i):
        results[i] = outcome(ingest(d, batches[i]))

    assert race(6, run) == ["ok"] * 6
    assert UsageRecord.objects.count() == 20
    for j in range(20):
        seen = [results[i][j if i % 2 else 19 - j] for i in range(6)]
        stored = UsageRecord.objects.get(record_id=f"r{j}")
        assert seen.count(("accepted", None)) == 1, (j, seen)
        if j == 7 and stored.quantity == Decimal("28800"):
            assert seen[5] == ("rejected", "conflict")
        elif j == 7:  # the differing record came first: every other batch conflicts with it
            assert seen[5] == ("accepted", None) and seen.count(("rejected", "conflict")) == 5


def test_the_api_takes_batches_with_the_pools_machine_key(delivered, api):
    d = delivered
    gridco_user, gridco = d["users"]["gridco"], d["orgs"]["gridco"]
    _, token = pool_key_create(actor=gridco_user, organisation=gridco, pool_id=d["pools"]["gridco"].pk, name="meter")
    machine = api(token=token)
    body = {"records": [rec(d, "a"), rec(d, "a"), rec(d, "b", quantity=-5)]}
    r = machine.post("/api/v1/usage/", body, format="json")
    assert r.status_code == 200, r.content
    assert (r.data["accepted"], r.data["duplicates"], r.data["rejected"]) == (1, 1, 1)
    assert r.data["results"][2]["error"]["fields"]["quantity"][0]["code"] == "min_value"
    # JSON numbers arrive as exact decimals: 28800.5 is not a float here
    r = machine.post("/api/v1/usage/", {"records": [rec(d, "c", quantity=28800.5)]}, format="json")
    assert r.data["results"][0]["error"]["fields"]["quantity"][0]["code"] == "exceeds_units"

    assert api(user=d["users"]["acme"]).post("/api/v1/usage/", body, format="json").status_code == 403
    assert machine.get("/api/v1/usage/").status_code == 403
    for user, seen in (("acme", ["a"]), ("gridco", ["a"]), ("bolt", [])):
        r = api(user=d["users"][user]).get("/api/v1/usage/")
        assert [u["record_id"] for u in r.data["results"]] == seen
    r = api(user=d["users"]["acme"]).get("/api/v1/usage/")
    assert r.data["results"][0]["quantity"] == "28800.000000"


def test_usage_of_a_retail_reservation_is_taken_from_the_listings_pool(retail, clock, operator):
    world = retail
    listing = list_(world, billing=Billing.PER_VOLUME)
    reservation = reserve(world, listing, start=NOW + H, end=NOW + 3 * H)
    clock["now"] = NOW + 4 * H
    pool = world["pool"]

    def raw(record_id, start=NOW + H, end=NOW + 2 * H, **overrides):
        body = {"record_id": record_id, "reservation": reservation.pk, "meter": "gpu_seconds", "quantity": "28800",
                "start": start.isoformat(), "end": end.isoformat()}  # fmt: skip
        body.update(overrides)
        return body

    results = usage_ingest(pool=pool, records=[
        raw("a"), raw("b", start=NOW, end=NOW + H), raw("c", quantity="28800.1"),
        raw("d", contract=1), raw("e", reservation=reservation.pk + 100),
    ], now=clock["now"])  # fmt: skip
    assert outcome(results) == [
        ("accepted", None),
        ("rejected", "outside_delivery"),
        ("rejected", "exceeds_units"),
        ("rejected", "required"),  # a contract and a reservation: name one
        ("rejected", "not_found"),
    ]
    stored = UsageRecord.objects.get()
    assert (stored.reservation, stored.contract, stored.buyer) == (reservation, None, world["acme"][1])
    # another pool of the same provider does not deliver it
    user, org = world["provider"]
    other = connected_pool(user=user, organisation=org, operator=operator, code="gridco-2", units=14)
    (result,) = usage_ingest(pool=other, records=[raw("f")], now=clock["now"])
    assert result.error.code == "not_found"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_batches_with_the_same_ids_in_opposite_orders_do_not_deadlock(delivered):
    d = delivered
    for round_ in range(4):
        forward = [rec(d, f"x{round_}-{j:04d}", hours=(j % 40, j % 40 + 1), quantity="1") for j in range(1000)]
        batches = [forward, forward[::-1]]
        assert race(2, lambda i, b=batches: ingest(d, b[i])) == ["ok", "ok"]  # a deadlock would raise
    assert UsageRecord.objects.count() == 4000


@pytest.mark.postgres
def test_the_database_refuses_a_record_that_refers_to_nothing(delivered):
    d = delivered
    ingest(d, [rec(d)])
    good = UsageRecord.objects.get()
    for field, value in (("pool_id", 10**9), ("contract_id", 10**9), ("buyer_id", 10**9), ("provider_id", 10**9)):
        row = {f.attname: getattr(good, f.attname) for f in UsageRecord._meta.concrete_fields if f.attname != "id"}
        row.update({field: value, "record_id": f"bad-{field}"})
        with pytest.raises(IntegrityError, match="does not exist"), transaction.atomic():
            UsageRecord.objects.create(**row)
    assert UsageRecord.objects.count() == 1
