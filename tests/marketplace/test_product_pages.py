"""A product's page: wholesale, its windows and the chosen one's book (depth chart and table),
tape, price chart and order ticket; retail, its listings and the reservation form, whose quote is
exact and shown before anything is stored, and whose confirmation reserves."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from marketplace.models import Order, OrderStatus, Reservation
from marketplace.services import ListingTerms, listing_create
from settlement.models import Hold
from tests.factories import UserFactory
from tests.marketplace.conftest import RT_CPU, RT_TIME, RT_VOLUME, WH_YRD

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def url(product, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("marketplace:product", kwargs={"product": product}) + (f"?{query}" if query else "")


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_a_wholesale_product_lists_its_windows_and_draws_the_chosen_book(client, shop):
    week, day = shop["week"], shop["day"]
    r = client.get(url(WH_YRD))  # a visitor: browsing is public
    body = r.content.decode()
    assert r.status_code == 200
    assert [i.code for i in r.context["instruments"]] == [day.code, week.code]  # soonest, day before week
    assert r.context["instrument"].code == day.code and "The book is empty." in body
    r = client.get(url(WH_YRD, instrument=week.code))
    body = r.content.decode()
    assert r.context["instrument"].code == week.code
    # the book after the match: 8 left at 12.00, 8 at 12.40; one trade of 8 at 12.00
    assert [(bid, ask["price"], ask["qty"]) for bid, ask in r.context["book"]] == [
        (None, "12.0000", 8),
        (None, "12.4000", 8),
    ]
    assert [(t["number"], t["price"], t["qty"]) for t in r.context["live"]["trades"]] == [(1, "12.0000", 8)]
    # the depth chart, drawn on the server: 12.00 at x 34, 12.40 at x 446; 8 of 16 units halfway up
    assert '<path d="M34.0,186.0 L34.0,186.0 L34.0,110.0 L446.0,110.0 L446.0,34.0" class="line ask"/>' in body
    assert 'class="line bid"' not in body
    # the price chart: one hourly candle (12.00 open and close) across the middle
    assert body.count("<rect ") == 1 and 'x="116.4" y="186.0" width="247.2" height="1.0" class="up"' in body
    assert '<tbody id="tape"><tr><td class="num">1</td><td class="num">¥12.0000</td><td class="num">8</td>' in body
    # ordering needs an account: no ticket, a way to sign in that comes back here
    assert 'id="order-form"' not in body and 'id="order-signin"' in body
    assert f"/accounts/login/?next=/shelf/{WH_YRD}/%3Finstrument%3D{week.code}" in body


def test_the_order_ticket_places_through_order_entry_and_comes_back(client, shop):
    week = shop["week"]
    client.force_login(shop["users"]["acme"])
    page = url(WH_YRD, instrument=week.code)
    body = client.get(page).content.decode()
    assert 'id="order-form"' in body and f'action="/shelf/{WH_YRD}/?instrument={week.code}"' in body
    form = {"side": "buy", "type": "limit", "price": "12.00", "qty": "8", "tif": "GTC", "expire_at": "",
            "client_order_id": "shelf-1", "idempotency_key": "shelf-key-1"}  # fmt: skip
    r = client.post(page, form)
    assert r.status_code == 302 and r["Location"] == page
    order = Order.objects.get(client_order_id="shelf-1")
    assert (order.instrument_id, order.side, order.qty, order.price, order.status) == (
        week.pk, "buy", 8, Decimal("12.00"), OrderStatus.PENDING)  # fmt: skip
    # a refusal keeps what was typed, next to the field
    r = client.post(page, {**form, "price": "12.005", "idempotency_key": "shelf-key-2"})
    assert r.status_code == 200 and r.context["form"].errors and 'value="12.005"' in r.content.decode()
    # the fixture's buy and this one: the refused one is not stored
    assert Order.objects.filter(organisation=shop["orgs"]["acme"]).count() == 2


def test_a_visitor_cannot_post_to_a_product(client, shop):
    before = (Order.objects.count(), Reservation.objects.count())
    for product, data in ((WH_YRD, {"side": "buy", "type": "limit", "price": "12", "qty": "8", "tif": "GTC"}),
                          (RT_TIME, {"units": "1", "start": "2030-01-01T00:00", "end": "2030-01-01T02:00",
                                     "confirm": "1"})):  # fmt: skip
        r = client.post(url(product), data)
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/?next=/shelf/")
    assert (Order.objects.count(), Reservation.objects.count()) == before


def test_a_per_time_quote_is_exact_and_stores_nothing_then_confirm_reserves(client, shop):
    listing = shop["listings"]["per_time"]
    client.force_login(shop["users"]["acme"])
    page = url(RT_TIME, listing=listing.pk)
    r = client.get(page)
    assert r.context["listing"] == listing and [lst.free for lst in r.context["listings"]] == [5]
    start = listing.available_from + 3 * timedelta(hours=1)
    terms = {"units": "2", "start": local(start), "end": local(start + 61 * MINUTE)}
    before = (Reservation.objects.count(), Hold.objects.count())
    r = client.post(page, {**terms, "quote": "1", "idempotency_key": "q1"})
    body = r.content.decode()
    quote = r.context["quote"]
    # §6.1: 21.36 × 2 units × 61 minutes / 60 = 43.432 → 43.43 (61 minutes: above the 60 minimum)
    assert (quote.minutes, quote.charge, quote.hold) == (61, Decimal("43.43"), Decimal("43.43"))
    assert "61 minutes: you will be charged <strong>¥43.43</strong>" in body and 'name="confirm"' in body
    assert "¥21.3600 × 2 unit(s) × 61 min ÷ 60, rounded half-up to the fen" in body
    assert (Reservation.objects.count(), Hold.objects.count()) == before  # nothing stored by a quote
    r = client.post(page, {**terms, "confirm": "1", "idempotency_key": "q1"})
    assert r.status_code == 302 and r["Location"] == reverse("marketplace:reservations")
    reservation = Reservation.objects.get(buyer=shop["orgs"]["acme"], listing=listing, units=2)
    assert (reservation.start, reservation.end, reservation.hold_amount) == (start, start + 61 * MINUTE,
                                                                               Decimal("43.43"))  # fmt: skip
    assert Hold.objects.count() == before[1] + 1


def test_a_per_volume_quote_shows_the_tariff_by_local_hour_and_the_hold(client, shop):
    listing = shop["listings"]["per_volume"]
    client.force_login(shop["users"]["acme"])
    page = url(RT_VOLUME)  # the cheapest (only) listing is chosen
    r = client.get(page)
    tariff = [(p.kind, p.multiplier, p.price, p.hours_text) for p in r.context["tariff"]]
    # §7 in YRD: 30.00 × 1.50 / 1.00 / 0.50, and which local hours are which
    assert tariff == [
        ("peak", Decimal("1.5"), Decimal("45.0000"), "08:00–11:00, 17:00–21:00"),
        ("flat", Decimal("1"), Decimal("30.0000"), "07:00–08:00, 11:00–17:00, 21:00–23:00"),
        ("valley", Decimal("0.5"), Decimal("15.0000"), "00:00–07:00, 23:00–24:00"),
    ]
    assert '<td class="num">¥45.0000</td><td>08:00–11:00, 17:00–21:00</td>' in r.content.decode()
    start = (timezone.now() + timedelta(hours=1)).replace(second=0, microsecond=0)
    terms = {"units": "2", "start": local(start), "end": local(start + 90 * MINUTE)}
    before = (Reservation.objects.count(), Hold.objects.count())
    r = client.post(page, {**terms, "quote": "1", "idempotency_key": "v1"})
    quote = r.context["quote"]
    # the hold: every unit busy all the time at the peak rate, 30.00 × 2 × 90 / 60 × 1.50 = 135.00
    assert (quote.minutes, quote.charge, quote.hold) == (90, None, Decimal("135.00"))
    assert quote.period_prices == {"peak": Decimal("45.0000"), "flat": Decimal("30.0000"), "valley": Decimal("15.0000")}
    assert "<strong>¥135.00</strong>" in r.content.decode()
    assert (Reservation.objects.count(), Hold.objects.count()) == before
    r = client.post(page, {**terms, "confirm": "1", "idempotency_key": "v1"})
    assert r.status_code == 302
    assert Reservation.objects.get(listing=listing).hold_amount == Decimal("135.00")


def test_a_quote_refused_keeps_the_input_and_says_why(client, shop):
    listing = shop["listings"]["per_time"]
    client.force_login(shop["users"]["acme"])
    start = listing.available_from + timedelta(hours=1)
    r = client.post(url(RT_TIME), {"units": "2", "start": local(start), "end": local(start + 30 * MINUTE),
                                   "quote": "1"})  # fmt: skip
    body = r.content.decode()
    assert r.status_code == 200 and r.context["quote"] is None
    assert r.context["form"].errors == {"end": ["Reserve at least 60 minutes of this listing."]}
    assert f'value="{local(start)}"' in body and 'id="quote"' not in body
    # a provider quoting its own listing is told so before confirming anything
    client.force_login(shop["users"]["gridco"])
    r = client.post(url(RT_TIME), {"units": "2", "start": local(start), "end": local(start + 60 * MINUTE),
                                   "quote": "1"})  # fmt: skip
    assert r.context["quote"] is None and "You cannot reserve your own listing." in r.content.decode()


def test_unknown_products_are_not_found(client, shop):
    for slug in ("H100-80G.YRD.MAIN.wholesale.per_volume", "H100-80G.MARS.MAIN.retail.per_time",
                 "H100-80G.YRD.ROOF.retail.per_time", "nothing"):  # fmt: skip
        assert client.get(url(slug)).status_code == 404
    # a real product with nothing on sale says so
    r = client.get(url("A100-80G.YRD.MAIN.retail.per_time"))
    assert r.status_code == 200 and "No listing of this product is open now." in r.content.decode()


def test_product_pages_read_a_bounded_number_of_queries(client, shop, django_assert_max_num_queries):
    client.force_login(shop["users"]["acme"])
    with django_assert_max_num_queries(20):  # 18 measured
        client.get(url(WH_YRD, instrument=shop["week"].code))
    with django_assert_max_num_queries(18):  # 17 measured
        client.get(url(RT_CPU))
    cpu = shop["listings"]["cpu"]
    for n in range(5):  # more listings of the product: no query more
        listing_create(actor=shop["users"]["westdc"], organisation=shop["orgs"]["westdc"], terms=ListingTerms(
            pool_id=cpu.pool_id, resource_class="VCPU-X86", units=8, price=Decimal("0.60") + n, billing="per_volume",
            minimum_minutes=1, available_from=timezone.now(), available_until=cpu.available_until))  # fmt: skip
    with django_assert_max_num_queries(18):
        r = client.get(url(RT_CPU))
    assert len(r.context["listings"]) == 6


def test_a_city_asked_for_stays_with_the_product_page(client, shop):
    week = shop["week"]
    client.force_login(shop["users"]["acme"])
    r = client.get(url(WH_YRD, city="SH"))
    body = r.content.decode()
    assert r.context["card"].latency_ms == 3 and "Latency to Shanghai" in body
    assert f'href="?instrument={week.code}&amp;city=SH"' in body and 'href="/shelf/?city=SH"' in body
    assert f'action="/shelf/{WH_YRD}/?instrument={shop["day"].code}&amp;city=SH"' in body
    r = client.get(url(RT_TIME, city="XX"))  # not a city core: Beijing, and not carried on
    assert r.context["card"].latency_ms == 25 and "city=" not in r.content.decode().split("<main")[1]


def test_a_member_of_no_organisation_is_asked_to_make_one(client, shop):
    client.force_login(UserFactory())
    body = client.get(url(RT_TIME)).content.decode()
    assert 'id="reservation-form"' not in body and 'href="/organisations/new/"' in body
    r = client.post(url(RT_TIME), {"units": "1", "quote": "1"})
    assert r.status_code == 302 and r["Location"] == "/organisations/new/"
