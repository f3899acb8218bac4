"""Each rule of §4 and §9 on the pure engine."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from marketplace.engine import Engine, InstrumentCodeError, instrument_parse, order_check

CODE = "H100-80G.YRD.MAIN.20261207.W"


def engine_with(*orders):
    engine = Engine()
    engine.apply(
        {
            "seq": 1,
            "ts": "2026-12-01T00:00:00Z",
            "event": "instrument",
            "instrument": CODE,
            "reference_price": "11.49",
            "tick": "0.01",
            "lot": 8,
        }
    )
    results = [engine.apply(o) for o in orders]
    return engine, results


def new(seq, order_id, org, side, qty, price=None, tif="GTC", ts=None, **extra):
    event = {
        "seq": seq,
        "ts": ts or f"2026-12-01T01:00:{seq:02d}Z",
        "event": "new",
        "instrument": CODE,
        "order_id": order_id,
        "org": org,
        "side": side,
        "type": "limit" if price else "market",
        "qty": qty,
        "tif": tif,
        **extra,
    }
    if price:
        event["price"] = price
    return event


def trades(results):
    return [(t.buy_order_id, t.sell_order_id, str(t.price), t.qty) for r in results for t in r.trades]


def test_instrument_windows():
    w = instrument_parse(CODE)
    assert w.window_start == datetime(2026, 12, 6, 16, 0, tzinfo=UTC) and w.window_hours == 168
    assert instrument_parse("A100-80G.GS.REMOTE.20270201.M").window_hours == 28 * 24
    assert instrument_parse("A100-80G.GS.REMOTE.20261208.D").window_hours == 24
    for bad in ("H100-80G.YRD.MAIN.20261208.W", "H100-80G.YRD.MAIN.20261202.M", "X.Y.Z.2026.D", "a.b.c.20261208.Q"):
        with pytest.raises(InstrumentCodeError):
            instrument_parse(bad)


def test_price_time_priority_at_the_makers_price():
    _, results = engine_with(
        new(2, "s1", "a", "sell", 8, "12.00"),
        new(3, "s2", "b", "sell", 8, "11.90"),
        new(4, "s3", "c", "sell", 8, "11.90"),
        new(5, "b1", "d", "buy", 24, "12.50"),
    )
    assert trades(results) == [("b1", "s2", "11.90", 8), ("b1", "s3", "11.90", 8), ("b1", "s1", "12.00", 8)]


@pytest.mark.parametrize(
    ("order", "reason"),
    [
        (new(2, "x", "a", "buy", 8, "12.005"), "off_tick"),
        (new(2, "x", "a", "buy", 12, "12.00"), "bad_lot"),
        (new(2, "x", "a", "buy", 0, "12.00"), "bad_lot"),
        (new(2, "x", "a", "buy", 8, "5.74"), "price_out_of_band"),
        (new(2, "x", "a", "buy", 8, "34.48"), "price_out_of_band"),
        (new(2, "x", "a", "buy", 8, tif="GTC"), "bad_market_order"),
        (new(2, "x", "a", "buy", 8, "12.00", tif="GTD", expire_at="2026-12-01T01:00:02Z"), "bad_expiry"),
        (new(2, "x", "a", "buy", 8, "12.00", tif="DAY"), "bad_tif"),
        (new(2, "x", "a", "buy", 8, "12.00", ts="2026-12-07T00:00:00+08:00"), "instrument_closed"),
    ],
)
def test_rejections(order, reason):
    engine, (result,) = engine_with(order)
    assert result.rejection.reason == reason and not result.trades


def test_band_bounds_are_included():
    _, results = engine_with(new(2, "lo", "a", "sell", 8, "5.75"), new(3, "hi", "b", "buy", 8, "34.47"))
    assert [r.rejection for r in results] == [None, None]


def test_self_trade_prevention_cancels_the_newest_after_the_fills_before():
    _, results = engine_with(
        new(2, "s1", "other", "sell", 8, "11.80"),
        new(3, "s2", "me", "sell", 8, "11.90"),
        new(4, "s3", "other", "sell", 8, "12.00"),
        new(5, "b1", "me", "buy", 24, "12.00"),
        new(6, "b2", "x", "buy", 8, "11.90"),
    )
    assert trades(results) == [("b1", "s1", "11.80", 8), ("b2", "s2", "11.90", 8)]
    assert results[3].outcome == "cancelled"  # b1's rest cancelled, s2 still rested for b2


def test_fok_counts_only_up_to_the_own_order():
    _, results = engine_with(
        new(2, "s1", "other", "sell", 8, "11.80"),
        new(3, "s2", "me", "sell", 8, "11.90"),
        new(4, "s3", "other", "sell", 8, "11.95"),
        new(5, "b1", "me", "buy", 16, "12.00", tif="FOK"),
        new(6, "b2", "me", "buy", 8, "12.00", tif="FOK"),
    )
    assert trades(results) == [("b2", "s1", "11.80", 8)]
    assert results[3].outcome == "cancelled" and not results[3].trades


def test_gtd_is_live_strictly_before_its_expiry():
    _, results = engine_with(
        new(2, "b1", "a", "buy", 8, "11.50", tif="GTD", expire_at="2026-12-01T02:00:00Z"),
        new(3, "s1", "b", "sell", 8, "11.50", tif="IOC", ts="2026-12-01T01:59:59Z"),
        new(4, "b2", "a", "buy", 8, "11.50", tif="GTD", expire_at="2026-12-01T03:00:00Z"),
        new(5, "s2", "b", "sell", 8, "11.50", tif="IOC", ts="2026-12-01T03:00:00Z"),
    )
    assert trades(results) == [("b1", "s1", "11.50", 8)]


def test_the_window_opening_expires_resting_orders():
    engine, results = engine_with(new(2, "s1", "a", "sell", 8, "12.00"))
    closing = engine.apply(
        {"seq": 3, "ts": "2026-12-06T16:00:00Z", "event": "cancel", "instrument": CODE, "order_id": "s1"}
    )
    assert closing.rejection.reason == "instrument_closed"
    assert engine.markets[CODE].resting == {}


def test_rejected_events_change_nothing():
    engine, results = engine_with(new(2, "s1", "a", "sell", 8, "12.00"), new(3, "s1", "b", "sell", 8, "12.10"))
    assert results[1].rejection.reason == "duplicate_order"
    again = engine.apply(
        {
            "seq": 4,
            "ts": "2026-12-01T02:00:00Z",
            "event": "instrument",
            "instrument": CODE,
            "reference_price": "1.00",
            "tick": "0.01",
            "lot": 1,
        }
    )
    assert again.rejection.reason == "duplicate_instrument" and engine.markets[CODE].reference_price == Decimal("11.49")
    unknown = engine.apply(
        {"seq": 5, "ts": "2026-12-01T02:00:01Z", "event": "cancel", "instrument": CODE, "order_id": "nope"}
    )
    assert unknown.rejection.reason == "unknown_order"
    _, late = engine_with(new(2, "b", "a", "buy", 8, "12.00"))
    assert trades(late) == []


def test_expired_orders_are_reported_when_met_and_when_swept():
    engine, results = engine_with(
        new(2, "b1", "a", "buy", 8, "11.50", tif="GTD", expire_at="2026-12-01T02:00:00Z"),
        new(3, "b2", "a", "buy", 8, "11.40", tif="GTD", expire_at="2026-12-01T02:00:00Z"),
        new(4, "b3", "a", "buy", 8, "11.30"),
        new(5, "s1", "b", "sell", 8, "11.50", tif="IOC", ts="2026-12-01T02:00:00Z"),
    )
    assert results[3].expired == ["b1"] and results[3].trades == []
    assert engine.expire("2026-12-01T01:59:59Z") == []
    assert engine.expire("2026-12-01T02:00:00Z") == ["b2"]
    assert [r[0] for r in engine.resting(CODE)] == ["b3"]
    assert engine.expire("2026-12-06T16:00:00Z") == ["b3"]  # the window opened
    assert engine.resting(CODE) == []


@pytest.mark.parametrize(
    ("changes", "now", "reason"),
    [
        ({}, "2026-12-01T00:00:00Z", None),
        ({"price": "11.495"}, "2026-12-01T00:00:00Z", "off_tick"),
        ({"price": "5.74"}, "2026-12-01T00:00:00Z", "price_out_of_band"),
        ({"qty": 12}, "2026-12-01T00:00:00Z", "bad_lot"),
        ({}, "2026-12-06T16:00:00Z", "instrument_closed"),
    ],
)
def test_order_check_applies_the_matching_rules_at_entry(changes, now, reason):
    event = {"side": "buy", "type": "limit", "price": "11.49", "qty": 8, "tif": "GTC", **changes}
    rejection = order_check(
        instrument=CODE, reference_price=Decimal("11.49"), tick=Decimal("0.01"), lot=8, event=event, now=now
    )
    assert (rejection.reason if rejection else None) == reason
