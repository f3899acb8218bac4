"""The demo market: instruments listed for every connected product, a book and trades on two of
them, all through the services, and loading it twice changes nothing."""

import pytest

from catalog.demo import demo_load
from marketplace.demo import demo_market
from marketplace.models import Contract, Instrument, Listing, Order, OrderStatus, Reservation, Trade

pytestmark = pytest.mark.django_db


def test_the_demo_market_lists_instruments_and_trades():
    demo_load()
    info = demo_market()
    assert info["orders"] >= 20
    # day, week and month windows of every connected product: at least 14 + 4 + 2 each
    products = Instrument.objects.values_list("resource_class", "region", "tier").distinct().count()
    assert Instrument.objects.count() >= 20 * products >= 20 * 5
    assert Trade.objects.exists() and Contract.objects.count() == Trade.objects.count()
    assert Order.objects.filter(status=OrderStatus.OPEN).exists()  # a book to look at
    # a retail shelf, per time and per volume, with one reservation on it
    assert info["listings"] == 4
    assert set(Listing.objects.values_list("billing", flat=True)) == {"per_time", "per_volume"}
    assert Reservation.objects.filter(status="confirmed").count() == 1
    before = (Instrument.objects.count(), Order.objects.count(), Trade.objects.count())
    again = demo_market()
    assert again["orders"] == 0
    assert (Instrument.objects.count(), Order.objects.count(), Trade.objects.count()) == before
    assert again["listings"] == 0 and Listing.objects.count() == 4 and Reservation.objects.count() == 1
