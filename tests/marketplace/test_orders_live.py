"""The orders page's live feed (/orders/live.json): the state of the organisation's orders on the
page and its latest fills, fetched by static/js/orders-live.js on each pushed change (else every
2 s). Only its own."""

import pytest
from django.urls import reverse

from marketplace.models import Order
from tests.marketplace.test_orders import match, place

pytestmark = pytest.mark.django_db

LIVE = reverse("marketplace:orders_live")


def live(client, user, **params):
    client.force_login(user)
    r = client.get(LIVE, params)
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    return r.json()


def test_an_order_is_shown_pending_then_filled_with_its_fill(client, market):
    ask = place(market, "gridco", "sell", 16, "12.00")
    bid = place(market, "acme", "buy", 8, "12.10")
    theirs = place(market, "bolt", "buy", 8, "11.50")
    acme = market["users"]["acme"]

    before = live(client, acme)
    assert before == {
        "orders": [
            {"id": bid.pk, "status": "pending", "status_display": "Accepted, matching", "end_reason_display": "",
             "qty": 8, "filled_qty": 0, "price": "12.1000", "average_price": None, "average_price_display": "—",
             "cancellable": True}
        ],
        "fills": [],
    }  # fmt: skip

    match(market)
    after = live(client, acme)
    (order,) = after["orders"]
    assert (order["id"], order["status"], order["status_display"], order["filled_qty"], order["cancellable"]) == (
        bid.pk,
        "filled",
        "Filled",
        8,
        False,
    )
    assert (order["average_price"], order["average_price_display"]) == ("12.0000", "¥12.0000")  # the maker's price
    (fill,) = after["fills"]
    code = market["instrument"].code
    assert {k: v for k, v in fill.items() if k != "executed_at"} == {
        "instrument": code, "number": 1, "side": "buy", "side_display": "Buy (bid)", "price": "12.0000",
        "price_display": "¥12.0000", "qty": 8, "order": bid.pk,
    }  # fmt: skip
    assert len(fill["executed_at"]) == 19  # YYYY-MM-DD HH:MM:SS, local time

    # the seller sees the same trade as its sale, its ask partly filled and still resting
    seller = live(client, market["users"]["gridco"])
    assert [(o["id"], o["status"], o["filled_qty"], o["cancellable"]) for o in seller["orders"]] == [
        (ask.pk, "open", 8, True)
    ]
    assert [(f["side"], f["order"], f["qty"]) for f in seller["fills"]] == [("sell", ask.pk, 8)]
    # Bolt's own order only: nothing of Acme's or GridCo's
    bolt = live(client, market["users"]["bolt"])
    assert [o["id"] for o in bolt["orders"]] == [theirs.pk] and bolt["fills"] == []


def test_the_feed_follows_the_pages_filter_and_refuses_a_bad_one(client, market):
    place(market, "gridco", "sell", 16, "12.00")
    bid = place(market, "acme", "buy", 8, "12.10")
    other = place(market, "acme", "buy", 8, "11.00")
    match(market)
    acme = market["users"]["acme"]
    assert [o["id"] for o in live(client, acme, status="open")["orders"]] == [other.pk]
    assert [o["id"] for o in live(client, acme, status="filled")["orders"]] == [bid.pk]
    assert live(client, acme, instrument="NOPE")["orders"] == []
    r = client.get(LIVE, {"status": "sleeping"})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "invalid" and list(body["fields"]) == ["status"]
    assert body["fields"]["status"][0]["code"] == "invalid_choice"


def test_the_page_is_drawn_for_the_script_and_the_feed_reads_in_a_few_queries(
    client, market, django_assert_max_num_queries
):
    place(market, "gridco", "sell", 64, "12.00")
    place(market, "westdc", "sell", 64, "12.00")
    for n in range(12):
        place(market, "acme", "buy", 8, "12.10", key=f"b{n}")
    match(market)
    client.force_login(market["users"]["acme"])
    page = client.get(reverse("marketplace:orders"), {"status": "filled"}).content.decode()
    first = Order.objects.filter(organisation=market["orgs"]["acme"]).order_by("-created_at", "-id").first()
    assert f'<tr data-order="{first.pk}" data-filled="8" data-status="filled">' in page
    assert 'data-url="/orders/live.json?status=filled"' in page and 'aria-live="polite"' in page
    assert page.count("<tr data-fill=") == 10  # the latest ten fills
    with django_assert_max_num_queries(7):  # session, user, organisation, orders, fills: not one per row
        data = client.get(LIVE).json()
    assert len(data["orders"]) == 12 and len(data["fills"]) == 10


def test_signed_out_or_without_an_organisation_gets_nothing(client, make_org):
    r = client.get(LIVE)
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
