"""The storefront pages: the market, an instrument's page with its order form and live JSON,
my orders (cancel), my contracts."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Membership
from marketplace.models import Order, OrderStatus
from marketplace.services import OrderTerms, instrument_match, order_place
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def place(market, org, side, qty, price, key):
    terms = OrderTerms(instrument=market["instrument"].code, side=side, type="limit", qty=qty, tif="GTC",
                       price=Decimal(price))  # fmt: skip
    return order_place(actor=market["users"][org], organisation=market["orgs"][org], terms=terms, idempotency_key=key)


def page_url(market):
    return reverse("marketplace:instrument_detail", kwargs={"code": market["instrument"].code})


@pytest.fixture
def traded(market):
    """gridco offers 16 at 12.00, acme buys 8 of them, westdc offers 8 at 12.40."""
    place(market, "gridco", "sell", 16, "12.00", "g1")
    place(market, "acme", "buy", 8, "12.00", "a1")
    place(market, "westdc", "sell", 8, "12.40", "w1")
    instrument_match(instrument_id=market["instrument"].pk)
    return market


def test_pages_need_a_signed_in_member(client, market):
    for url in (reverse("marketplace:index"), page_url(market), reverse("marketplace:orders")):
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


def test_market_lists_instruments_by_product_with_quotes_and_filters(client, traded):
    client.force_login(traded["users"]["bolt"])
    body = client.get(reverse("marketplace:index")).content.decode()
    assert "H100-80G · YRD · MAIN" in body and traded["instrument"].code in body
    # best bid: none left (acme's bid filled); best ask 12.00 (8 left), last 12.00
    assert body.count("12.0000") >= 2 and "12.4000" not in body
    assert traded["instrument"].code not in client.get(reverse("marketplace:index"), {"tier": "EDGE"}).content.decode()
    assert traded["instrument"].code in client.get(reverse("marketplace:index"), {"kind": "W"}).content.decode()


def test_instrument_page_shows_facts_book_tape_and_a_fresh_idempotency_key(client, traded):
    client.force_login(traded["users"]["bolt"])
    r = client.get(page_url(traded))
    body = r.content.decode()
    assert r.status_code == 200
    assert str(traded["instrument"].reference_price) in body
    assert 'id="depth-chart"' in body and 'id="price-chart"' in body and "js/market.js" in body
    assert 'name="idempotency_key"' in body
    assert r.context["form_key"] != client.get(page_url(traded)).context["form_key"]
    assert [(bid, ask["price"], ask["qty"]) for bid, ask in r.context["book"]] == [
        (None, "12.0000", 8),
        (None, "12.4000", 8),
    ]
    assert [(t["number"], t["price"], t["qty"]) for t in r.context["live"]["trades"]] == [(1, "12.0000", 8)]


def test_a_buyer_places_an_order_through_the_form_and_sees_it(client, traded):
    client.force_login(traded["users"]["bolt"])
    form = {"side": "buy", "type": "limit", "price": "12.40", "qty": "8", "tif": "GTC", "expire_at": "",
            "client_order_id": "bolt-web-1", "idempotency_key": "form-key-1"}  # fmt: skip
    r = client.post(page_url(traded), form)
    assert r.status_code == 302 and r["Location"] == page_url(traded)
    order = Order.objects.get(organisation=traded["orgs"]["bolt"])
    assert (order.side, order.price, order.qty, order.client_order_id, order.status) == (
        "buy",
        Decimal("12.40"),
        8,
        "bolt-web-1",
        OrderStatus.PENDING,
    )
    assert client.post(page_url(traded), form).status_code == 302  # a double submit places nothing more
    assert Order.objects.filter(organisation=traded["orgs"]["bolt"]).count() == 1

    page = client.get(page_url(traded)).content.decode()
    assert f"Order #{order.pk} accepted" in page and "Accepted, matching" in page
    instrument_match(instrument_id=traded["instrument"].pk)
    live = client.get(reverse("marketplace:instrument_live", kwargs={"code": traded["instrument"].code})).json()
    assert live["orders"] == [
        {"id": order.pk, "side": "buy", "side_display": "Buy (bid)", "type": "limit", "price": "12.4000", "qty": 8,
         "filled_qty": 8,
         "status": "filled", "status_display": "Filled", "tif": "GTC", "created_at": live["orders"][0]["created_at"],
         "cancellable": False}
    ]  # fmt: skip
    # it met the best ask, gridco's 12.00, at the maker's price
    assert [(t["number"], t["price"]) for t in live["trades"]] == [(2, "12.0000"), (1, "12.0000")]
    mine = client.get(reverse("marketplace:orders"), {"status": "filled"}).content.decode()
    assert "bolt-web-1" in mine


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"price": "12.005"}, "price", "The price must be"),
        ({"price": "999.00"}, "price", "outside the band"),
        ({"qty": "5"}, "qty", "The quantity must be"),
        ({"qty": "800000"}, "qty", "This order needs"),
        ({"tif": "GTD", "expire_at": "2001-01-01T00:00"}, "expire_at", "Expiry"),
    ],
)
def test_refusals_show_the_reason_next_to_the_field(client, market, changes, field, message):
    client.force_login(market["users"]["bolt"])
    form = {"side": "buy", "type": "limit", "price": "12.00", "qty": "8", "tif": "GTC", "idempotency_key": "k"}
    r = client.post(page_url(market), {**form, **changes})
    assert r.status_code == 200
    errors = r.context["form"].errors
    assert field in errors and message in errors[field][0], errors
    page = r.content.decode()
    # the input points at its error for screen readers, and the error carries that id
    assert f'aria-describedby="id_{field}_error"' in page and f'id="id_{field}_error"' in page
    assert not Order.objects.exists()


def test_a_viewer_sees_the_services_refusal(client, market):
    viewer = UserFactory()
    Membership.objects.create(user=viewer, organisation=market["orgs"]["bolt"], role=Membership.Role.VIEWER)
    client.force_login(viewer)
    form = {"side": "buy", "type": "limit", "price": "12.00", "qty": "8", "tif": "GTC", "idempotency_key": "k"}
    r = client.post(page_url(market), form)
    assert r.status_code == 200 and "Only owners, admins and traders" in r.content.decode()
    assert not Order.objects.exists()


def test_cancel_through_the_page(client, traded):
    own = Order.objects.get(organisation=traded["orgs"]["westdc"])
    client.force_login(traded["users"]["westdc"])
    assert f'action="/orders/{own.pk}/cancel/"' in client.get(page_url(traded)).content.decode()
    r = client.post(reverse("marketplace:order_cancel", kwargs={"order_id": own.pk}), {"next": page_url(traded)})
    assert r.status_code == 302 and r["Location"] == page_url(traded)
    own.refresh_from_db()
    assert own.cancel_requested_at is not None
    instrument_match(instrument_id=traded["instrument"].pk)
    own.refresh_from_db()
    assert own.status == OrderStatus.CANCELLED
    body = client.get(reverse("marketplace:orders")).content.decode()
    assert "Cancelled" in body
    # again: the service refuses, the page says why
    r = client.post(reverse("marketplace:order_cancel", kwargs={"order_id": own.pk}), {"next": "https://evil.test/"})
    assert r["Location"] == reverse("marketplace:orders")
    assert "already cancelled" in client.get(r["Location"]).content.decode()


def test_live_json_has_the_book_tape_and_only_the_callers_orders(client, traded):
    client.force_login(traded["users"]["acme"])
    live = client.get(reverse("marketplace:instrument_live", kwargs={"code": traded["instrument"].code})).json()
    assert live["depth"] == {
        "bids": [],
        "asks": [
            {"price": "12.0000", "qty": 8, "orders": 1, "cumulative": 8},
            {"price": "12.4000", "qty": 8, "orders": 1, "cumulative": 16},
        ],
    }
    assert (live["best_bid"], live["best_ask"], live["last"]) == (None, "12.0000", "12.0000")
    assert [(t["number"], t["price"], t["qty"]) for t in live["trades"]] == [(1, "12.0000", 8)]
    assert live["trades"][0]["executed_at"].endswith("+08:00")
    assert [(b["open"], b["close"], b["volume"]) for b in live["bars"]] == [("12.0000", "12.0000", 8)]
    assert [(o["side"], o["status"], o["filled_qty"]) for o in live["orders"]] == [("buy", "filled", 8)]
    assert "GridCo" not in str(live) and "gridco" not in str(live)
    missing = reverse("marketplace:instrument_live", kwargs={"code": "H100-80G.YRD.MAIN.20000103.W"})
    assert client.get(missing).status_code == 404


def test_contracts_show_their_legs(client, traded):
    client.force_login(traded["users"]["acme"])
    body = client.get(reverse("marketplace:contracts")).content.decode()
    assert traded["instrument"].code in body
    assert "<code>gridco-1</code> · GridCo · Shanghai · 8" in body
    client.force_login(traded["users"]["bolt"])
    assert "gridco-1" not in client.get(reverse("marketplace:contracts")).content.decode()


def test_orders_filter_by_instrument_and_status(client, traded):
    client.force_login(traded["users"]["gridco"])
    url = reverse("marketplace:orders")
    assert "12.00" in client.get(url, {"instrument": traded["instrument"].code}).content.decode()
    assert "No orders." in client.get(url, {"instrument": "H100-80G.YRD.MAIN.20000103.W"}).content.decode()
    assert "No orders." in client.get(url, {"status": "cancelled"}).content.decode()
    assert "No orders." not in client.get(url, {"status": "open"}).content.decode()
