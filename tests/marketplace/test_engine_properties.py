"""Property tests over random order streams: the engine agrees with a deliberately naive model
(a flat list scanned in full for every order), never trades an order beyond its quantity or
limit, never trades an organisation with itself, conserves quantity, and is deterministic."""

from collections import defaultdict
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.engine import Engine

CODE = "L40S.GS.REMOTE.20270104.W"
REF, TICK, LOT = Decimal("2.00"), Decimal("0.01"), 1
LOW, HIGH = Decimal("1.00"), Decimal("6.00")  # the band: [0.5, 3] × 2.00

orders = st.fixed_dictionaries(
    {
        "org": st.sampled_from(["a", "b", "c"]),
        "side": st.sampled_from(["buy", "sell"]),
        "market": st.booleans(),
        "price": st.integers(min_value=190, max_value=210).map(lambda c: Decimal(c) / 100),
        "qty": st.integers(min_value=1, max_value=5),
        "tif": st.sampled_from(["GTC", "GTC", "IOC", "FOK"]),
        "cancel": st.integers(min_value=0, max_value=9),
    }
)


def stream(specs):
    events = [
        {
            "seq": 1,
            "ts": "2027-01-01T00:00:00Z",
            "event": "instrument",
            "instrument": CODE,
            "reference_price": str(REF),
            "tick": str(TICK),
            "lot": LOT,
        }
    ]
    seq = 1
    for i, o in enumerate(specs):
        seq += 1
        ts = f"2027-01-01T00:{seq // 60:02d}:{seq % 60:02d}Z"
        if o["cancel"] == 0 and i:
            events.append({"seq": seq, "ts": ts, "event": "cancel", "instrument": CODE, "order_id": f"o{i // 2}"})
            continue
        event = {
            "seq": seq,
            "ts": ts,
            "event": "new",
            "instrument": CODE,
            "order_id": f"o{i}",
            "org": o["org"],
            "side": o["side"],
            "type": "limit",
            "price": str(o["price"]),
            "qty": o["qty"],
            "tif": o["tif"],
        }
        if o["market"] and o["tif"] in ("IOC", "FOK"):
            event["type"] = "market"
            del event["price"]
        events.append(event)
    return events


def naive(events):
    """Rest orders in a list; for each new order scan it all, best price then earliest first."""
    book, trades = [], []
    for e in events:
        if e["event"] == "cancel":
            book[:] = [r for r in book if r["id"] != e["order_id"]]
            continue
        if e["event"] != "new":
            continue
        buy = e["side"] == "buy"
        limit = Decimal(e["price"]) if "price" in e else (HIGH if buy else LOW)
        contra = [r for r in book if r["side"] != e["side"] and (r["price"] <= limit if buy else r["price"] >= limit)]
        contra.sort(key=lambda r: (r["price"] if buy else -r["price"], r["seq"]))
        usable = []
        for r in contra:
            if r["org"] == e["org"]:
                break
            usable.append(r)
        if e["tif"] == "FOK" and sum(r["qty"] for r in usable) < e["qty"]:
            continue
        left = e["qty"]
        for r in usable:
            if not left:
                break
            q = min(left, r["qty"])
            left -= q
            r["qty"] -= q
            pair = (e["order_id"], r["id"]) if buy else (r["id"], e["order_id"])
            trades.append((e["seq"], str(r["price"].quantize(TICK)), q, *pair, r["id"]))
        book[:] = [r for r in book if r["qty"]]
        stopped = len(usable) < len(contra)
        if left and e["tif"] == "GTC" and "price" in e and not stopped:
            book.append(
                {"id": e["order_id"], "org": e["org"], "side": e["side"], "price": limit, "qty": left, "seq": e["seq"]}
            )
    return trades


def run(events):
    engine = Engine()
    out = []
    for e in events:
        for t in engine.apply(e).trades:
            out.append((t.seq, str(t.price), t.qty, t.buy_order_id, t.sell_order_id, t.maker_order_id))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(orders, min_size=1, max_size=60))
def test_the_engine_agrees_with_the_naive_model_and_keeps_the_rules(specs):
    events = stream(specs)
    trades = run(events)
    assert trades == naive(events)
    assert trades == run(events)  # deterministic
    new = {e["order_id"]: e for e in events if e["event"] == "new"}
    filled = defaultdict(int)
    for seq, price, qty, buy_id, sell_id, maker_id in trades:
        buy, sell = new[buy_id], new[sell_id]
        assert buy["org"] != sell["org"]
        filled[buy_id] += qty
        filled[sell_id] += qty
        price = Decimal(price)
        assert price <= Decimal(buy.get("price", HIGH)) and price >= Decimal(sell.get("price", LOW))
        assert maker_id in (buy_id, sell_id) and new[maker_id]["seq"] < seq
    assert all(filled[i] <= new[i]["qty"] for i in filled)
    assert sum(q for _, _, q, *_ in trades) * 2 == sum(filled.values())
