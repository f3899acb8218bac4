"""The engine benchmark's runners: ours (typed and §9-shaped), the two peer order books, and the
log replay, each fed the same seeded stream (bench/orderstream.py).

Each runner takes its input already in the shape its API wants (built untimed) and returns
``(wall seconds, CPU seconds, matched qty, notional in ticks × qty, fills)``; the timed loop is the
submission call per order, including building the peer's order object, plus reading the fills it
reports.
Peers (bench/requirements.txt, never product dependencies):

- pyorderbook 0.4.9: ``Book().match(Order(side, symbol, price, qty))`` returns a TradeBlotter whose
  trades carry ``fill_quantity`` and a Decimal ``fill_price`` (the standing order's price). Pure
  Python; no self-trade prevention, time in force or lots.
- liquibook 2.0.1 (C++ via SWIG): ``DepthOrderBook.add(SimpleOrder(is_buy, price, qty))`` with an
  ``OrderListener`` subclass: its ``on_fill(order, matched_order, qty, price)`` is called, in
  Python, once per fill at the resting order's price, and ``on_accept`` once per order (a pure
  virtual method in the binding, so a Python listener must have it). The book holds its orders by
  shared_ptr, so nothing is kept alive on the Python side.
"""

import time
from collections.abc import Iterable

from orderstream import CODE, TS, instrument_event


def ours_submit(orders: list[tuple]) -> tuple[float, float, int, int, int]:
    """Engine.submit: typed values (integer ticks, one aware datetime)."""
    from marketplace.engine import Engine
    from marketplace.engine.checks import time_parse

    engine = Engine()
    engine.apply(instrument_event())
    now = time_parse(TS)
    submit = engine.submit
    matched = notional = trades = 0
    start, cpu = time.perf_counter(), time.process_time()
    for seq, order_id, org, side, ticks, qty in orders:
        for _, price, filled in submit(seq, now, CODE, order_id, org, side, ticks, qty, "GTC")[1]:
            matched += filled
            notional += price * filled
            trades += 1
    return time.perf_counter() - start, time.process_time() - cpu, matched, notional, trades


def ours_apply(events: list[dict]) -> tuple[float, float, int, int, int]:
    """Engine.apply: §9-shaped dict events (decimal strings), Result and Decimal Trade objects."""
    from marketplace.engine import Engine

    engine = Engine()
    apply = engine.apply
    matched = notional = trades = 0
    start, cpu = time.perf_counter(), time.process_time()
    for event in events:
        for trade in apply(event).trades:
            matched += trade.qty
            notional += trade.price * trade.qty
            trades += 1
    return time.perf_counter() - start, time.process_time() - cpu, matched, int(notional * 100), trades


def replay(log: str) -> tuple[float, float, int, int, int]:
    """What ``manage.py replay`` does per line (read, orjson.loads, Engine.apply), minus printing."""
    import orjson

    from marketplace.engine import Engine

    engine = Engine()
    apply, loads = engine.apply, orjson.loads
    matched = notional = trades = 0
    start, cpu = time.perf_counter(), time.process_time()
    with open(log, "rb") as stream:
        for line in stream:
            if not line.strip():
                continue
            for trade in apply(loads(line)).trades:
                matched += trade.qty
                notional += trade.price * trade.qty
                trades += 1
    return time.perf_counter() - start, time.process_time() - cpu, matched, int(notional * 100), trades


def parse_only(log: str) -> float:
    """The replay's reading and ``orjson.loads`` alone: wall seconds."""
    import orjson

    loads = orjson.loads
    start = time.perf_counter()
    with open(log, "rb") as stream:
        for line in stream:
            if line.strip():
                loads(line)
    return time.perf_counter() - start


def pyorderbook(orders: Iterable[tuple]) -> tuple[float, float, int, int, int]:
    from pyorderbook import Book, Order, Side

    book = Book()
    match = book.match
    sides = {"buy": Side.BID, "sell": Side.ASK}
    orders = [(sides[side], price, qty) for side, price, qty in orders]
    matched = trades = 0
    notional = 0
    start, cpu = time.perf_counter(), time.process_time()
    for side, price, qty in orders:
        for trade in match(Order(side, CODE, price, qty)).trades:
            matched += trade.fill_quantity
            notional += trade.fill_price * trade.fill_quantity
            trades += 1
    return time.perf_counter() - start, time.process_time() - cpu, matched, int(notional * 100), trades


def liquibook(orders: Iterable[tuple]) -> tuple[float, float, int, int, int]:
    import liquibook as lb

    class Fills(lb.OrderListener):
        def __init__(self):
            lb.OrderListener.__init__(self)
            self.matched = self.notional = self.trades = 0

        def on_accept(self, order):
            pass

        def on_fill(self, order, matched_order, qty, price):
            self.matched += qty
            self.notional += price * qty
            self.trades += 1

    book, fills = lb.DepthOrderBook(), Fills()
    book.set_order_listener(fills)
    book.set_symbol(CODE)
    add, make = book.add, lb.SimpleOrder
    start, cpu = time.perf_counter(), time.process_time()
    for is_buy, ticks, qty in orders:
        add(make(is_buy, ticks, qty))
    return time.perf_counter() - start, time.process_time() - cpu, fills.matched, fills.notional, fills.trades
