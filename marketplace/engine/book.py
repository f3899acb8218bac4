"""One instrument's order book in integer ticks.

A resting order is a tuple, ``(order_id, org, price, remaining, expire_at, seq, buy,
instrument)`` (the indices are named below): it costs a sixth of a slotted object to make, and the
garbage collector stops tracking a tuple of plain values, so a book of a million orders adds
nothing to each collection. A partial fill replaces the order's tuple, in its queue and in the
engine's table of orders, with one of the new remaining.

Each side keeps its price levels (FIFO deques) in a dict by *key* and the keys in an ascending
list, best first: an ask's key is its price and a bid's key is its negated price, so "best" is
always ``keys[0]`` and an order on the other side crosses a level exactly when ``key <= limit
key`` (the limit for a buy, the negated limit for a sell). The list ends with a key past any
price in the band, so it is never empty and its end never crosses.
"""

from bisect import bisect_left
from collections import deque
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from marketplace.engine.instruments import Instrument

BAND_LOW = Decimal("0.50")
BAND_HIGH = Decimal("3.00")
# the earliest instant an aware datetime can name: every time is at or past it
CLOSED = datetime.min.replace(tzinfo=timezone(timedelta(hours=24) - timedelta(microseconds=1)))

# a resting order's fields
ID, ORG, PRICE, LEFT, EXPIRES, SEQ, IS_BUY, CODE = range(8)


class Side:
    """Price levels of one side: ``levels[key]`` is a deque of orders in time order, ``keys`` the
    ascending keys of the non-empty levels, then ``end``."""

    __slots__ = ("levels", "keys", "sign")

    def __init__(self, sign: int, end: int):
        self.levels: dict[int, deque[tuple]] = {}
        self.keys: list[int] = [end]
        self.sign = sign  # +1 for asks, -1 for bids: key = sign * price

    def discard(self, order: tuple) -> None:
        key = self.sign * order[PRICE]
        queue = self.levels[key]
        if queue[0] is order:
            queue.popleft()
        else:
            queue.remove(order)
        if not queue:
            del self.levels[key]
            del self.keys[bisect_left(self.keys, key)]

    def in_priority(self):
        """Every resting order, best price first, then time."""
        levels = self.levels
        for key in self.keys[:-1]:
            yield from levels[key]


class Market:
    """An instrument's rules (reference price, tick, lot, band in whole ticks) and its book."""

    def __init__(self, instrument: Instrument, reference_price: Decimal, tick: Decimal, lot: int):
        self.instrument, self.reference_price, self.tick, self.lot = instrument, reference_price, tick, lot
        self.code = instrument.code
        self.window_start = instrument.window_start
        self.places = tick.normalize()
        # the band in whole ticks, bounds included
        self.band_low = int((BAND_LOW * reference_price / tick).to_integral_value(ROUND_CEILING))
        self.band_high = int((BAND_HIGH * reference_price / tick).to_integral_value(ROUND_FLOOR))
        self.end = max(self.band_high, 0) + 1  # a key past every level on either side
        self.bids, self.asks = Side(-1, self.end), Side(1, self.end)
        self.closed = False
        self.open_until = self.window_start  # trading stops at this time, or now when closed
        self.prices: dict[int, Decimal] = {}  # ticks -> exact price, filled as trades happen
        self.ticks_of: dict[str, object] = {}  # price string -> ticks, or why the string is refused

    def price_of(self, ticks: int) -> Decimal:
        price = self.prices.get(ticks)
        if price is None:
            price = (Decimal(ticks) * self.tick).quantize(self.places)
            if len(self.prices) < 65536:
                self.prices[ticks] = price
        return price

    def band(self) -> str:
        return f"[{self.price_of(self.band_low)}, {self.price_of(self.band_high)}]"

    @property
    def resting(self) -> dict[str, tuple]:
        """The orders in the book by id, in the order they came to rest."""
        orders = [*self.bids.in_priority(), *self.asks.in_priority()]
        orders.sort(key=lambda order: order[SEQ])
        return {order[ID]: order for order in orders}

    def close(self) -> list[str]:
        """The window opened: trading ends and every resting order expires. Returns their ids."""
        gone = list(self.resting)
        self.closed = True
        self.open_until = CLOSED
        self.bids, self.asks = Side(-1, self.end), Side(1, self.end)
        return gone

    def remove(self, order: tuple) -> None:
        (self.bids if order[IS_BUY] else self.asks).discard(order)

    def fillable(self, buy: bool, limit: int, qty: int, org: str, now: datetime) -> int:
        """What could fill now, counted up to ``qty``: contra orders in priority at acceptable
        prices, up to the first of the order's own organisation (self-trade prevention stops
        there); orders past their expiry are skipped."""
        contra = self.asks if buy else self.bids
        limit_key = limit if buy else -limit
        total = 0
        levels = contra.levels
        for key in contra.keys:
            if key > limit_key:
                break
            for resting in levels[key]:
                if total >= qty:
                    return total
                expires = resting[EXPIRES]
                if expires is not None and now >= expires:
                    continue
                if resting[ORG] == org:
                    return total
                total += resting[LEFT]
        return total
