"""Time ends orders (GTD expiry, the window opening) and racing orders never overdraw a buyer or
oversell a pool."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import close_old_connections
from django.utils import timezone

from catalog.capacity import capacity_summary
from config.errors import ExchangeError
from marketplace.models import Order, OrderStatus
from marketplace.services import OrderTerms, instrument_match, instrument_sweep, instruments_due_for_sweep, order_place
from settlement.models import Hold
from settlement.services import available_funds
from tests.concurrency import race

pytestmark = pytest.mark.django_db


def terms(market, side, qty, price, tif="GTC", **extra):
    return OrderTerms(
        instrument=market["instrument"].code, side=side, type="limit", qty=qty, price=Decimal(price), tif=tif, **extra
    )


def enter(market, org, t, key):
    return order_place(actor=market["users"][org], organisation=market["orgs"][org], terms=t, idempotency_key=key)


def test_a_gtd_order_expires_at_its_time_and_gives_its_hold_back(market):
    now = timezone.now()
    gtd = enter(market, "acme", terms(market, "buy", 8, "11.00", tif="GTD", expire_at=now + timedelta(minutes=5)), "g")
    gtc = enter(market, "acme", terms(market, "buy", 8, "10.00", tif="GTC"), "c")
    instrument_match(instrument_id=market["instrument"].pk)
    assert instruments_due_for_sweep(now=now + timedelta(minutes=4)) == []
    assert instruments_due_for_sweep(now=now + timedelta(minutes=5)) == [market["instrument"].pk]
    instrument_sweep(instrument_id=market["instrument"].pk, now=now + timedelta(minutes=5))
    gtd.refresh_from_db()
    gtc.refresh_from_db()
    assert (gtd.status, gtd.end_reason, gtc.status) == (OrderStatus.EXPIRED, "gtd_expired", OrderStatus.OPEN)
    assert Hold.objects.get(pk=gtd.hold_id).status == "closed"
    # a seller arriving later meets only the live bid
    enter(market, "gridco", terms(market, "sell", 8, "10.00", tif="IOC"), "s")
    instrument_match(instrument_id=market["instrument"].pk)
    gtc.refresh_from_db()
    assert gtc.status == OrderStatus.FILLED


def test_the_window_opening_closes_trading_and_expires_resting_orders(market):
    instrument = market["instrument"]
    buy = enter(market, "acme", terms(market, "buy", 8, "11.00"), "b")
    sell = enter(market, "gridco", terms(market, "sell", 8, "13.00"), "s")
    instrument_match(instrument_id=instrument.pk)
    instrument_sweep(instrument_id=instrument.pk, now=instrument.window_start)
    buy.refresh_from_db()
    sell.refresh_from_db()
    assert {buy.status, sell.status} == {OrderStatus.EXPIRED} and buy.end_reason == "window_opened"
    assert available_funds(organisation=market["orgs"]["acme"]).holds == 0
    (row,) = capacity_summary(
        pool_ids=[market["pools"]["gridco"].pk], start=instrument.window_start, end=instrument.window_end
    )
    assert row["offered"] == 0 and row["sellable"] == 64
    assert instruments_due_for_sweep(now=instrument.window_start) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_buys_never_overdraw_and_racing_sells_never_oversell(market, make_org):
    user, tiny = make_org(slug="tiny")
    market["users"]["tiny"], market["orgs"]["tiny"] = user, tiny
    per_order = Decimal("16128.00") + Decimal("48.38")  # 8 × 12.00 × 168 and the taker fee
    market["fund"](tiny, 3 * per_order + Decimal("100.00"))

    def buy(i):
        enter(market, "tiny", terms(market, "buy", 8, "12.00"), f"b{i}")

    outcomes = race(12, buy)
    close_old_connections()
    assert outcomes.count("ok") == 3 and outcomes.count("insufficient_funds") == 9
    assert available_funds(organisation=tiny).available == Decimal("100.00")

    def sell(i):
        enter(market, "gridco", terms(market, "sell", 24, "30.00"), f"s{i}")

    outcomes = race(6, sell)
    close_old_connections()
    assert outcomes.count("ok") == 2 and outcomes.count("insufficient_capacity") == 4  # 64 units: two of 24
    seqs = list(Order.objects.filter(instrument=market["instrument"]).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(2, 2 + len(seqs)))  # one gapless sequence, whoever won the races


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_order_entry_and_matching_running_together_never_deadlock(market):
    """Entry locks the buyer's accounts (or the seller's pools), then the instrument; a matching
    batch holds those accounts and, committing, takes a key-share lock on the instrument. With the
    instrument locked FOR UPDATE the two could deadlock; FOR NO KEY UPDATE does not conflict, and
    entry waits for nothing while it holds the instrument."""
    import threading

    errors, stop = [], threading.Event()

    def match_loop():
        try:
            while not stop.is_set():
                instrument_match(instrument_id=market["instrument"].pk, limit=5)
        except Exception as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(repr(exc))
        finally:
            close_old_connections()

    worker = threading.Thread(target=match_loop)
    worker.start()
    try:
        for i in range(60):
            org, side = ("gridco", "sell") if i % 2 else ("acme", "buy")
            try:
                enter(market, org, terms(market, side, 8, "12.00"), f"dl{i}")
            except ExchangeError as exc:
                assert exc.code == "insufficient_capacity", exc.code
    except Exception as exc:  # noqa: BLE001
        errors.append(repr(exc))
    finally:
        stop.set()
        worker.join()
        close_old_connections()
    assert errors == []
    instrument_match(instrument_id=market["instrument"].pk)
    assert not Order.objects.filter(status=OrderStatus.PENDING).exists()
