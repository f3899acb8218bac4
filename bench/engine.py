"""Benchmark: the pure matching engine on a seeded limit-order stream (issue 4's first figure).

Prints orders/s for Engine.apply on events in the §9 JSON shape (strings for decimals, as a log
replay feeds it), and the matched quantity. Usage: .venv/bin/python bench/engine.py [N]
"""

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marketplace.engine import Engine  # noqa: E402

CODE = "H100-80G.YRD.MAIN.20271206.W"


def generate(n: int, seed: int = 42) -> list[dict]:
    rng = random.Random(seed)
    events = [
        {
            "seq": 1,
            "ts": "2027-01-01T00:00:00Z",
            "event": "instrument",
            "instrument": CODE,
            "reference_price": "11.49",
            "tick": "0.01",
            "lot": 8,
        }
    ]
    for i in range(n):
        side = "buy" if rng.random() < 0.5 else "sell"
        centre = 1149 + (-3 if side == "buy" else 3)
        price = centre + int(rng.gauss(0, 8))
        events.append(
            {
                "seq": i + 2,
                "ts": "2027-01-01T01:00:00Z",
                "event": "new",
                "instrument": CODE,
                "order_id": f"o{i}",
                "org": f"org{rng.randrange(50)}",
                "side": side,
                "type": "limit",
                "price": f"{price // 100}.{price % 100:02d}",
                "qty": 8 * rng.randint(1, 4),
                "tif": "GTC",
            }
        )
    return events


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    events = generate(n)
    engine = Engine()
    start = time.perf_counter()
    matched = 0
    for event in events:
        for trade in engine.apply(event).trades:
            matched += trade.qty
    seconds = time.perf_counter() - start
    print(
        f"engine core: {n:,} limit orders in {seconds:.2f} s = {n / seconds:,.0f} orders/s; "
        f"matched qty {matched:,} (seed 42)"
    )


if __name__ == "__main__":
    main()
