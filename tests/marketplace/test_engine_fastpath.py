"""The typed fast path (``Engine.submit`` / ``Engine.cancel``: integer ticks, aware datetimes) does
exactly what ``Engine.apply`` does with the same events in the §9 shape: the same trades at the
same prices, the same outcomes, the same rejections, the same expired orders and the same books,
on random streams of limit and market orders of every time in force, cancels, GTD expiries,
self-trades, duplicates, bad fields and the window opening, over two instruments."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.engine import Engine, instrument_parse

CODES = ("L40S.GS.REMOTE.20270104.W", "H100-80G.YRD.MAIN.20270104.W")
TICK, LOT = Decimal("0.01"), 2
OPENS = instrument_parse(CODES[0]).window_start  # both windows open together

orders = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["new"] * 8 + ["cancel", "cancel", "cancel_other", "duplicate"]),
        "code": st.sampled_from([0, 0, 0, 1]),
        "org": st.integers(min_value=0, max_value=2),  # shifts the a, b, c rotation
        "side": st.sampled_from([0] * 6 + [1] * 6 + [2]),  # shifts the buy, sell rotation; 2: bad
        "market": st.integers(min_value=0, max_value=5).map(lambda n: n == 0),
        "ticks": st.one_of(*[st.integers(min_value=190, max_value=210)] * 4, st.sampled_from([99, 100, 600, 601])),
        "lots": st.sampled_from([1] * 4 + [2] * 3 + [3] * 2 + [0]),
        "odd_lot": st.integers(min_value=0, max_value=19),
        "tif": st.sampled_from(["GTC"] * 4 + ["GTD"] * 3 + ["IOC"] * 2 + ["FOK"] * 2 + ["DAY"]),
        "expiry": st.integers(min_value=-2, max_value=40),
        "step": st.integers(min_value=0, max_value=6),
        "back": st.integers(min_value=0, max_value=30),
    }
)


def stream(specs, start_before: int):
    """§9 events: two listings, then orders and cancels, seconds apart, from ``start_before``
    seconds before the windows open."""
    now = OPENS - timedelta(seconds=start_before)
    events = [
        {
            "seq": seq,
            "ts": (now - timedelta(hours=1)).isoformat(),
            "event": "instrument",
            "instrument": code,
            "reference_price": "2.00",
            "tick": str(TICK),
            "lot": LOT,
        }
        for seq, code in enumerate(CODES, start=1)
    ]
    for i, o in enumerate(specs):
        seq = len(events) + 1
        now += timedelta(seconds=o["step"])
        code = CODES[o["code"]]
        earlier = f"o{max(i - 1 - o['back'], 0)}"
        if o["kind"] in ("cancel", "cancel_other"):
            if o["kind"] == "cancel_other":  # on the other instrument than the order's
                code = CODES[1 - o["code"]]
            cancel = {"seq": seq, "ts": now.isoformat(), "event": "cancel", "instrument": code, "order_id": earlier}
            events.append(cancel)
            continue
        qty = LOT * o["lots"] + (1 if o["odd_lot"] == 0 else 0)
        event = {
            "seq": seq,
            "ts": now.isoformat().replace("+00:00", "Z"),
            "event": "new",
            "instrument": code,
            "order_id": earlier if o["kind"] == "duplicate" else f"o{i}",
            "org": "abc"[(i + o["org"]) % 3],
            "side": "hold" if o["side"] == 2 else ("buy", "sell")[(i + o["side"]) % 2],
            "type": "limit",
            "price": str(Decimal(o["ticks"]) * TICK),
            "qty": qty,
            "tif": o["tif"],
        }
        if o["market"]:
            event["type"] = "market"
            del event["price"]
        if o["tif"] == "GTD" or o["expiry"] == 0:
            event["expire_at"] = (now + timedelta(seconds=o["expiry"])).isoformat()
        events.append(event)
    return events


def by_apply(events):
    engine, out = Engine(), []
    for event in events:
        r = engine.apply(event)
        trades = [
            (t.seq, t.instrument, t.price, t.qty, t.buy_order_id, t.sell_order_id, t.maker_order_id) for t in r.trades
        ]
        out.append((r.outcome, trades, r.expired, r.rejection.reason if r.rejection else None))
    return engine, out


def by_submit(events):
    engine, out = Engine(), []
    for event in events:
        if event["event"] == "instrument":
            engine.apply(event)
            out.append(("", [], [], None))
            continue
        seq, code = event["seq"], event["instrument"]
        now = datetime.fromisoformat(event["ts"])
        if event["event"] == "cancel":
            outcome, fills, expired, rejection = engine.cancel(seq, now, code, event["order_id"])
        else:
            price = event.get("price")
            expire_at = event.get("expire_at")
            outcome, fills, expired, rejection = engine.submit(
                seq,
                now,
                code,
                event["order_id"],
                event["org"],
                event["side"],
                None if price is None else int(Decimal(price) / TICK),
                event["qty"],
                event["tif"],
                None if expire_at is None else datetime.fromisoformat(expire_at),
            )
        trades = []
        for maker, ticks, qty in fills:
            taker = event["order_id"]
            buy, sell = (taker, maker) if event["side"] == "buy" else (maker, taker)
            trades.append((seq, code, Decimal(ticks) * TICK, qty, buy, sell, maker))
        out.append((outcome, trades, list(expired), rejection.reason if rejection else None))
    return engine, out


@settings(max_examples=400, deadline=None)
@given(st.lists(orders, min_size=20, max_size=80), st.integers(min_value=0, max_value=1500))
def test_submit_and_cancel_do_what_apply_does(specs, start_before):
    events = stream(specs, start_before)
    applied, by_events = by_apply(events)
    submitted, by_values = by_submit(events)
    assert by_values == by_events
    for code in CODES:
        assert submitted.resting(code) == applied.resting(code)
    later = (OPENS - timedelta(seconds=start_before) + timedelta(seconds=len(events) * 6 + 1)).isoformat()
    assert submitted.expire(later) == applied.expire(later)
    assert set(submitted.seen_orders) == set(applied.seen_orders)


def test_the_price_comes_back_exact_and_whole_ticks_are_required():
    engine = Engine()
    engine.apply(
        {
            "seq": 1,
            "ts": "2027-01-01T00:00:00Z",
            "event": "instrument",
            "instrument": CODES[0],
            "reference_price": "2.00",
            "tick": "0.01",
            "lot": 1,
        }
    )
    now = datetime(2027, 1, 1, 1, tzinfo=UTC)
    assert engine.submit(2, now, CODES[0], "s", "a", "sell", 199, 3, "GTC") == ("rested", (), (), None)
    assert engine.submit(3, now, CODES[0], "b", "b", "buy", 201, 2, "IOC") == ("filled", [("s", 199, 2)], (), None)
    assert engine.resting(CODES[0]) == [("s", "sell", Decimal("1.99"), 1)]
    refused = engine.submit(4, now, CODES[0], "x", "b", "buy", 200.5, 1, "GTC")
    assert refused[0] == "" and refused[3].reason == "off_tick"
    assert engine.submit(5, now, CODES[0], "x", "b", "buy", 198, 1, "GTC")[0] == "rested"  # nothing kept of seq 4
