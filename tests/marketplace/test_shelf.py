"""The shelf (货架): one card per product with its figures exact on a small market, every filter
and sort kept in the URL, invalid values reported and ignored, public browsing, and a bounded
number of queries however many products, instruments and listings there are."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from marketplace.models import Instrument
from marketplace.services import ListingTerms, instrument_ensure, listing_create
from marketplace.shelf.rules import Criteria, ProductKey, shelf_select
from marketplace.shelf.selectors import shelf_cards
from tests.marketplace.conftest import RT_CPU, RT_TIME, RT_VOLUME, WH_JJJ, WH_YRD

pytestmark = pytest.mark.django_db


def figures(card):
    return (card.best_price, card.price_is_reference, card.scu_price_shown, card.available, card.latency_ms,
            card.green_share, card.offers)  # fmt: skip


def test_every_product_has_one_card_with_exact_figures(shop):
    cards = {c.key.slug: c for c in shelf_cards(city="BJ")}
    reference = shop["jjj"].reference_price
    assert set(cards) == {WH_YRD, WH_JJJ, RT_TIME, RT_VOLUME, RT_CPU}
    # best ask over the week (12.00, 8 left) and the day (empty); 8 + 8 units resting
    assert figures(cards[WH_YRD]) == (Decimal("12.00"), False, Decimal("0.012133"), 16, Decimal(25), Decimal("0.5"), 2)
    # an empty book: the reference price, marked; (64 × 0.35 + 32 × 0.80) / 96 = 0.5 above, 0.50 here
    assert figures(cards[WH_JJJ]) == (reference, True, (reference / 989).quantize(Decimal("0.000001")), 0,
                                      Decimal(3), Decimal("0.5"), 1)  # fmt: skip
    # 8 listed from its first hour, 3 of them reserved then; 21.36 / 989 = 0.0215976…
    assert figures(cards[RT_TIME]) == (Decimal("21.36"), False, Decimal("0.021598"), 5, Decimal(25), Decimal("0.35"), 1)
    assert figures(cards[RT_VOLUME]) == (
        Decimal("30.00"),
        False,
        Decimal("0.030334"),
        4,
        Decimal(25),
        Decimal("0.8"),
        1,
    )
    # a CPU class has no SCU figure
    assert figures(cards[RT_CPU]) == (Decimal("0.50"), False, None, 256, Decimal(3), Decimal("0.5"), 1)
    assert cards[WH_YRD].scu_price == Decimal("12.00") / Decimal(989)  # exact behind the 6 places shown
    assert cards[WH_YRD].region_name == "Yangtze River Delta" and cards[WH_YRD].green_percent == Decimal("50.0")
    assert shelf_cards(city="BJ", language="zh-hans")[0].region_name == "京津冀"


def test_latency_is_the_regions_round_trip_to_the_chosen_city(shop):
    for city, yrd, jjj in (("BJ", 25, 3), ("SH", 3, 25), ("GZ", 20, 35), ("CD", 30, 35)):
        cards = {c.key.slug: c.latency_ms for c in shelf_cards(city=city)}
        assert (cards[WH_YRD], cards[RT_TIME], cards[WH_JJJ], cards[RT_CPU]) == (yrd, yrd, jjj, jjj)


def slugs(client, **params):
    r = client.get(reverse("marketplace:shelf"), params)
    assert r.status_code == 200
    return [c.key.slug for c in r.context["cards"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [WH_JJJ, WH_YRD, RT_TIME, RT_VOLUME, RT_CPU]),
        ({"resource_class": "VCPU-X86"}, [RT_CPU]),
        ({"region": "JJJ"}, [WH_JJJ, RT_CPU]),
        ({"tier": "MAIN"}, [WH_YRD, RT_TIME, RT_VOLUME]),
        ({"mode": "wholesale"}, [WH_JJJ, WH_YRD]),
        ({"mode": "retail", "billing": "per_volume"}, [RT_VOLUME, RT_CPU]),
        ({"billing": "per_time"}, [WH_JJJ, WH_YRD, RT_TIME]),
        ({"max_price": "21.36"}, [WH_JJJ, WH_YRD, RT_TIME, RT_CPU]),
        ({"max_price": "12"}, [WH_JJJ, WH_YRD, RT_CPU]),
        ({"max_price": "11.99"}, [WH_JJJ, RT_CPU]),
        ({"max_latency": "10"}, [WH_JJJ, RT_CPU]),
        ({"max_latency": "10", "city": "SH"}, [WH_YRD, RT_TIME, RT_VOLUME]),
        ({"min_green": "50"}, [WH_JJJ, WH_YRD, RT_VOLUME, RT_CPU]),
        ({"min_green": "80"}, [RT_VOLUME]),
        ({"available": "on"}, [WH_YRD, RT_TIME, RT_VOLUME, RT_CPU]),
        ({"sort": "price"}, [RT_CPU, WH_JJJ, WH_YRD, RT_TIME, RT_VOLUME]),
        ({"sort": "scu_price"}, [WH_JJJ, WH_YRD, RT_TIME, RT_VOLUME, RT_CPU]),  # CPU has none: last
        ({"sort": "latency", "city": "BJ"}, [WH_JJJ, RT_CPU, WH_YRD, RT_TIME, RT_VOLUME]),
        ({"sort": "latency", "city": "SH"}, [WH_YRD, RT_TIME, RT_VOLUME, WH_JJJ, RT_CPU]),
        ({"sort": "green"}, [RT_VOLUME, WH_JJJ, WH_YRD, RT_CPU, RT_TIME]),
        ({"sort": "availability"}, [RT_CPU, WH_YRD, RT_TIME, RT_VOLUME, WH_JJJ]),
        ({"mode": "retail", "sort": "price", "available": "on", "max_latency": "25"}, [RT_CPU, RT_TIME, RT_VOLUME]),
    ],
)
def test_filters_and_sorts_are_read_from_the_url(client, shop, params, expected):
    assert shop["jjj"].reference_price == Decimal("11.43")  # §8 for H100 in JJJ: below the 12.00 ask in YRD
    assert slugs(client, **params) == expected


def test_the_page_shows_each_card_and_keeps_the_filters_in_its_form(client, shop):
    r = client.get(reverse("marketplace:shelf"), {"mode": "wholesale", "city": "SH", "sort": "price"})
    body = r.content.decode()
    assert r.status_code == 200 and "errors" not in body
    assert body.count('class="card product"') == 2
    assert f'href="/shelf/{WH_YRD}/?city=SH"' in body
    assert "¥12.0000" in body and "¥0.012133" in body and "16 units" in body and "3 ms" in body and "50.0 %" in body
    assert "(no asks on the book)" in body  # JJJ's empty book: its reference price, marked
    assert '<option value="wholesale" selected>' in body and '<option value="SH" selected>' in body


def test_invalid_values_are_reported_and_ignored_not_a_server_error(client, shop):
    r = client.get(reverse("marketplace:shelf"), {"max_price": "cheap", "min_green": "120", "sort": "colour",
                                                   "city": "XX", "region": "MARS", "mode": "wholesale"})  # fmt: skip
    body = r.content.decode()
    assert r.status_code == 200
    assert set(r.context["form"].errors) == {"max_price", "min_green", "sort", "city", "region"}
    assert 'role="alert"' in body and "Some filters could not be used" in body
    assert [c.key.slug for c in r.context["cards"]] == [WH_JJJ, WH_YRD]  # the valid filter still applies
    assert r.context["city_name"] == "Beijing" and "Latency to Beijing" in body


def test_empty_state_says_why(client, shop):
    r = client.get(reverse("marketplace:shelf"), {"max_price": "0.01"})
    assert r.context["cards"] == [] and 'id="shelf-empty"' in r.content.decode()
    assert "No product matches these filters" in r.content.decode()


def test_browsing_is_public_and_the_shelf_is_the_markets_entry(client, shop):
    r = client.get(reverse("marketplace:shelf"))
    assert r.status_code == 200 and len(r.context["cards"]) == 5
    home = client.get("/").content.decode()
    assert 'id="cta-shelf" href="/shelf/"' in home and '<a href="/shelf/">Market</a>' in home
    client.force_login(shop["users"]["acme"])
    assert '<a href="/shelf/">Market</a>' in client.get("/market/").content.decode()


def test_query_count_does_not_grow_with_the_market(client, shop, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        shelf_cards(city="BJ")
    with django_assert_max_num_queries(12):
        client.get(reverse("marketplace:shelf"))
    # more of everything: 6 more instruments, 4 more listings
    for kind, days in (("D", 2), ("D", 3), ("D", 4)):
        code = shop["day"].code.rsplit(".", 2)[0]
        day = (shop["day"].window_start + timedelta(days=days)).astimezone(timezone.get_current_timezone())
        instrument_ensure(code=f"{code}.{day:%Y%m%d}.{kind}")
        instrument_ensure(code=f"A100-80G.YRD.MAIN.{day:%Y%m%d}.{kind}")
    for n in range(4):
        listing = shop["listings"]["cpu"]
        listing_create(actor=shop["users"]["westdc"], organisation=shop["orgs"]["westdc"], terms=ListingTerms(
            pool_id=listing.pool_id, resource_class="VCPU-X86", units=8, price=Decimal("0.60") + n, billing="per_time",
            minimum_minutes=60, available_from=timezone.now(), available_until=listing.available_until))  # fmt: skip
    assert Instrument.objects.count() == 9
    with django_assert_max_num_queries(6):
        cards = shelf_cards(city="BJ")
    assert len(cards) == 7  # + A100 wholesale, + vCPU per time
    with django_assert_max_num_queries(12):
        client.get(reverse("marketplace:shelf"))


def test_keys_parse_only_possible_products():
    assert ProductKey.parse(WH_YRD) == ProductKey("H100-80G", "YRD", "MAIN", "wholesale", "per_time")
    for bad in ("H100-80G.YRD.MAIN.wholesale.per_volume", "H100-80G.YRD.MAIN.auction.per_time", "a.b.c", "....."):
        assert ProductKey.parse(bad) is None


def test_selecting_without_criteria_keeps_product_order():
    assert shelf_select([], Criteria()) == []


def test_the_shelf_and_a_product_speak_chinese(client, shop):
    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}
    body = client.get(reverse("marketplace:shelf"), {"city": "SH"}, **zh).content.decode()
    assert "<h1>货架" in body and "长三角" in body and "京津冀" in body and "到上海的时延" in body
    assert "（订单簿上暂无卖单）" in body and "16 个单元" in body and "3 毫秒" in body
    body = client.get(reverse("marketplace:product", kwargs={"product": RT_VOLUME}), **zh).content.decode()
    assert "分时电价" in body and "<td>峰</td>" in body and "<td>谷</td>" in body
