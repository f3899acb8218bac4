"""The demo market: instruments listed for every connected product, a book and trades on two of
them, all through the services, and loading it twice changes nothing."""

import pytest

from catalog.demo import demo_load
from marketplace.demo import demo_market
from marketplace.models import Contract, Instrument, Order, OrderStatus, Trade

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
    before = (Instrument.objects.count(), Order.objects.count(), Trade.objects.count())
    again = demo_market()
    assert again["orders"] == 0
    assert (Instrument.objects.count(), Order.objects.count(), Trade.objects.count()) == before
