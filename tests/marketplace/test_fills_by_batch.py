"""A statement-of-account line of a matching batch (``match:<instrument>:<first>-<last>``) leads to
the trades it settled: the API's ``/trades/?batch=`` and the fills page give exactly the
organisation's trades of that batch; a malformed batch is refused with its field and code."""

import pytest
from django.urls import reverse

from accounts.services import api_key_create
from marketplace.services import instrument_match
from settlement.models import JournalTransaction

pytestmark = pytest.mark.django_db


def order(market, **changes):
    return {"instrument": market["instrument"].code, "side": "buy", "type": "limit", "price": "12.00", "qty": 8,
            "tif": "GTC", **changes}  # fmt: skip


@pytest.fixture
def two_batches(market, api):
    """gridco sells 32; acme buys 8 (one batch), then bolt 8 and acme 16 (another): the batches'
    names as their trade.settle entries give them, and an API client per organisation."""
    clients = {}
    for org in ("gridco", "acme", "bolt"):
        _, token = api_key_create(actor=market["users"][org], organisation=market["orgs"][org], name=f"{org}-erp",
                                  scopes=["orders:read", "orders:write", "funds:read"])  # fmt: skip
        clients[org] = api(token=token)
    instrument = market["instrument"].pk
    assert clients["gridco"].post("/api/v1/orders/", order(market, side="sell", qty=32),
                                  HTTP_IDEMPOTENCY_KEY="s").status_code == 201  # fmt: skip
    assert clients["acme"].post("/api/v1/orders/", order(market), HTTP_IDEMPOTENCY_KEY="a1").status_code == 201
    instrument_match(instrument_id=instrument)
    assert clients["bolt"].post("/api/v1/orders/", order(market), HTTP_IDEMPOTENCY_KEY="b1").status_code == 201
    assert clients["acme"].post("/api/v1/orders/", order(market, qty=16), HTTP_IDEMPOTENCY_KEY="a2").status_code == 201
    instrument_match(instrument_id=instrument)
    batches = list(
        JournalTransaction.objects.filter(kind="trade.settle").order_by("pk").values_list("source", flat=True)
    )
    assert batches == [f"match:{instrument}:2-3", f"match:{instrument}:4-5"]
    return batches, clients


def numbers(client, batch):
    r = client.get("/api/v1/trades/", {"batch": batch})
    assert r.status_code == 200, r.json()
    return sorted((t["number"], t["side"], t["qty"]) for t in r.json()["results"])


def test_the_api_gives_an_organisations_trades_of_a_batch(two_batches):
    (first, second), clients = two_batches
    assert numbers(clients["acme"], first) == [(1, "buy", 8)]
    assert numbers(clients["acme"], second) == [(3, "buy", 16)]
    assert numbers(clients["bolt"], first) == [] and numbers(clients["bolt"], second) == [(2, "buy", 8)]
    assert numbers(clients["gridco"], second) == [(2, "sell", 8), (3, "sell", 16)]
    # the statement of account names the batch on acme's lines; the name leads to those trades
    postings = clients["acme"].get("/api/v1/postings/", {"kind": "trade.settle"}).json()["results"]
    assert {p["source"] for p in postings} == {first, second}


@pytest.mark.parametrize(
    "batch",
    ["match:1", "match:1:2", "trade:1:2-3", "match:1:2-3:4", "match:1:2-99999999999999999999", "match:x:1-2", "1-2"],
)
def test_a_malformed_batch_is_refused_with_its_field(two_batches, batch):
    _, clients = two_batches
    r = clients["acme"].get("/api/v1/trades/", {"batch": batch})
    assert r.status_code == 400
    assert r.json()["fields"]["batch"][0]["code"] == "bad_batch"


def test_the_statement_links_a_batch_line_to_the_fills_page(two_batches, market, client):
    (first, second), _ = two_batches
    client.force_login(market["users"]["acme"])
    statement = client.get(reverse("settlement:funds")).content.decode()
    assert f'href="{reverse("marketplace:fills")}?batch={first.replace(":", "%3A")}"' in statement
    page = client.get(reverse("marketplace:fills"), {"batch": second}).content.decode()
    code = market["instrument"].code
    assert f'data-fill="{code}#3"' in page and f'data-fill="{code}#1"' not in page
    every = client.get(reverse("marketplace:fills")).content.decode()
    assert f'data-fill="{code}#3"' in every and f'data-fill="{code}#1"' in every
    assert f'data-fill="{code}#2"' not in every  # bolt's
    bad = client.get(reverse("marketplace:fills"), {"batch": "match:1:2"}).content.decode()
    assert "Not a matching batch" in bad and "data-fill=" not in bad
