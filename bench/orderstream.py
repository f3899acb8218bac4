"""Seeded order streams for the engine benchmarks, one stream in three shapes.

``limit_stream(n)`` gives ``n`` GTC limit orders as plain tuples ``(order_id, org, side, ticks,
qty)``: each side's prices scatter (Gaussian, 8 ticks) around a centre 3 ticks off the reference
(so about a quarter of the quantity trades and the book keeps a realistic depth), quantities are
1-4 lots. Buyers and sellers are different organisations (as on Suanli: tenants buy, providers
sell), so self-trade prevention, which the peer books do not have, never fires and every engine
must match the same quantity. ``events`` renders the same orders as §9 order-log events, and
``log_lines`` as the JSON Lines a replay reads.
"""

import json
import random

CODE = "H100-80G.YRD.MAIN.20271206.W"
REFERENCE, TICK, LOT = "11.49", "0.01", 8
REFERENCE_TICKS = 1149
TS = "2027-01-01T01:00:00Z"
ORGS = 25  # per side


def limit_stream(n: int, seed: int = 42) -> list[tuple[str, str, str, int, int]]:
    rng = random.Random(seed)
    orders = []
    for i in range(n):
        buy = rng.random() < 0.5
        ticks = REFERENCE_TICKS + (-3 if buy else 3) + int(rng.gauss(0, 8))
        org = f"{'tenant' if buy else 'provider'}{rng.randrange(ORGS)}"
        orders.append((f"o{i}", org, "buy" if buy else "sell", ticks, LOT * rng.randint(1, 4)))
    return orders


def price_text(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}"


def instrument_event(seq: int = 1) -> dict:
    return {
        "seq": seq,
        "ts": "2027-01-01T00:00:00Z",
        "event": "instrument",
        "instrument": CODE,
        "reference_price": REFERENCE,
        "tick": TICK,
        "lot": LOT,
    }


def events(orders, distinct_times: bool = False) -> list[dict]:
    """The orders as §9 events after the instrument's listing. ``distinct_times`` gives every
    event its own timestamp (one microsecond apart), as a real log has."""
    out = [instrument_event()]
    for i, (order_id, org, side, ticks, qty) in enumerate(orders):
        out.append(
            {
                "seq": i + 2,
                "ts": f"2027-01-01T01:{i // 60_000_000 % 60:02d}:{i // 1_000_000 % 60:02d}.{i % 1_000_000:06d}Z"
                if distinct_times
                else TS,
                "event": "new",
                "instrument": CODE,
                "order_id": order_id,
                "org": org,
                "side": side,
                "type": "limit",
                "price": price_text(ticks),
                "qty": qty,
                "tif": "GTC",
            }
        )
    return out


def log_lines(orders) -> list[str]:
    """The order log a replay reads: one JSON object a line, every event with its own time."""
    return [json.dumps(event) + "\n" for event in events(orders, distinct_times=True)]
