"""Continuous price-time matching (trading standard §4) and replay semantics (§9).

``Engine.apply(event)`` takes one order-log event (the JSON shape of §9, strings for decimals and
times) and returns what it did: the trades it caused, in execution order, or why it was rejected.
An event the rules reject changes nothing. Prices are integer ticks inside; a trade executes at
the resting (maker) order's price.
"""

from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from marketplace.engine.instruments import Instrument, InstrumentCodeError, instrument_parse

BAND_LOW = Decimal("0.50")
BAND_HIGH = Decimal("3.00")
TIFS = ("GTC", "GTD", "IOC", "FOK")
BUY, SELL = "buy", "sell"


@dataclass(frozen=True)
class Trade:
    seq: int
    instrument: str
    price: Decimal
    qty: int
    buy_order_id: str
    sell_order_id: str
    maker_order_id: str


@dataclass(frozen=True)
class Rejection:
    seq: int
    reason: str
    detail: str = ""


@dataclass
class Result:
    seq: int
    trades: list[Trade] = field(default_factory=list)
    rejection: Rejection | None = None
    # for a new order: "rested", "filled", "cancelled" (IOC/market remainder, FOK unfilled, self-trade)
    outcome: str = ""
    # resting GTD orders found past their expiry while matching, removed from the book
    expired: list[str] = field(default_factory=list)


class _Order:
    __slots__ = ("order_id", "org", "side", "price", "remaining", "expire_at", "seq")

    def __init__(self, order_id, org, side, price, remaining, expire_at, seq):
        self.order_id, self.org, self.side, self.price = order_id, org, side, price
        self.remaining, self.expire_at, self.seq = remaining, expire_at, seq


class _Side:
    """One side of a book: price levels (FIFO queues) and their prices, best first via index."""

    __slots__ = ("levels", "prices", "best_is_high")

    def __init__(self, best_is_high: bool):
        self.levels: dict[int, deque[_Order]] = {}
        self.prices: list[int] = []  # ascending
        self.best_is_high = best_is_high

    def best(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.best_is_high else self.prices[0]

    def add(self, order: _Order) -> None:
        queue = self.levels.get(order.price)
        if queue is None:
            queue = self.levels[order.price] = deque()
            insort(self.prices, order.price)
        queue.append(order)

    def drop_level(self, price: int) -> None:
        del self.levels[price]
        del self.prices[bisect_left(self.prices, price)]

    def in_priority(self):
        """Every resting order, best price first, then time."""
        prices = reversed(self.prices) if self.best_is_high else iter(self.prices)
        for price in prices:
            yield from self.levels[price]


class _Market:
    def __init__(self, instrument: Instrument, reference_price: Decimal, tick: Decimal, lot: int):
        self.instrument, self.reference_price, self.tick, self.lot = instrument, reference_price, tick, lot
        self.places = tick.normalize()
        # the band in whole ticks, bounds included
        self.band_low = int((BAND_LOW * reference_price / tick).to_integral_value(ROUND_CEILING))
        self.band_high = int((BAND_HIGH * reference_price / tick).to_integral_value(ROUND_FLOOR))
        self.bids, self.asks = _Side(best_is_high=True), _Side(best_is_high=False)
        self.resting: dict[str, _Order] = {}
        self.closed = False

    def price_of(self, ticks: int) -> Decimal:
        return (Decimal(ticks) * self.tick).quantize(self.places)

    def close(self) -> None:
        """The window opened: trading ends and every resting order expires."""
        self.closed = True
        self.bids, self.asks = _Side(best_is_high=True), _Side(best_is_high=False)
        self.resting.clear()


def _time(value) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("times carry an offset")
    return moment


def _live(order: _Order, now: datetime) -> bool:
    return order.expire_at is None or now < order.expire_at


class Engine:
    """Order books of any number of instruments, fed one accepted event at a time."""

    def __init__(self):
        self.markets: dict[str, _Market] = {}
        self.seen_orders: set[str] = set()

    # --- events ---------------------------------------------------------------------------------

    def apply(self, event: dict) -> Result:
        seq = int(event["seq"])
        kind = event.get("event")
        handler = {"instrument": self._instrument, "new": self._new, "cancel": self._cancel}.get(kind)
        if handler is None:
            return Result(seq, rejection=Rejection(seq, "unknown_event", str(kind)))
        try:
            now = _time(event["ts"])
        except (KeyError, ValueError) as exc:
            return Result(seq, rejection=Rejection(seq, "bad_time", str(exc)))
        return handler(seq, now, event)

    def _instrument(self, seq: int, now: datetime, event: dict) -> Result:
        code = event.get("instrument", "")
        if code in self.markets:
            return Result(seq, rejection=Rejection(seq, "duplicate_instrument", code))
        try:
            instrument = instrument_parse(code)
            reference, tick, lot = Decimal(event["reference_price"]), Decimal(event["tick"]), int(event["lot"])
        except (InstrumentCodeError, KeyError, InvalidOperation, TypeError, ValueError) as exc:
            return Result(seq, rejection=Rejection(seq, "bad_instrument", str(exc)))
        if reference <= 0 or tick <= 0 or lot < 1:
            return Result(seq, rejection=Rejection(seq, "bad_instrument", "positive reference, tick and lot"))
        self.markets[code] = _Market(instrument, reference, tick, lot)
        return Result(seq)

    def _open_market(self, seq: int, now: datetime, code: str) -> tuple[_Market | None, Result | None]:
        market = self.markets.get(code)
        if market is None:
            return None, Result(seq, rejection=Rejection(seq, "unknown_instrument", code))
        if not market.closed and now >= market.instrument.window_start:
            market.close()
        if market.closed:
            return None, Result(seq, rejection=Rejection(seq, "instrument_closed", code))
        return market, None

    def _cancel(self, seq: int, now: datetime, event: dict) -> Result:
        market, refused = self._open_market(seq, now, event.get("instrument", ""))
        if refused:
            return refused
        order = market.resting.get(event.get("order_id"))
        if order is None or not _live(order, now):
            return Result(seq, rejection=Rejection(seq, "unknown_order", str(event.get("order_id"))))
        self._remove(market, order)
        return Result(seq, outcome="cancelled")

    def _new(self, seq: int, now: datetime, event: dict) -> Result:
        order_id = event.get("order_id")
        if not order_id or order_id in self.seen_orders:
            return Result(seq, rejection=Rejection(seq, "duplicate_order", str(order_id)))
        market, refused = self._open_market(seq, now, event.get("instrument", ""))
        if refused:
            return refused
        checked = self._check(market, seq, now, event)
        if isinstance(checked, Rejection):
            return Result(seq, rejection=checked)
        self.seen_orders.add(order_id)
        side, limit, qty, tif, expire_at = checked
        order = _Order(order_id, event.get("org", ""), side, limit, qty, expire_at, seq)
        return self._match(market, order, tif, now)

    def _check(self, market: _Market, seq: int, now: datetime, event: dict):
        """The §4 rules an order must pass: side, type, tick, band, lot, time in force, expiry."""
        side, kind, tif = event.get("side"), event.get("type"), event.get("tif")
        if side not in (BUY, SELL):
            return Rejection(seq, "bad_side", str(side))
        if kind not in ("limit", "market"):
            return Rejection(seq, "bad_type", str(kind))
        if tif not in TIFS:
            return Rejection(seq, "bad_tif", str(tif))
        qty = event.get("qty")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0 or qty % market.lot:
            return Rejection(seq, "bad_lot", f"a positive multiple of {market.lot}")
        if kind == "market":
            if tif not in ("IOC", "FOK") or "price" in event:
                return Rejection(seq, "bad_market_order", "a market order has no price and is IOC or FOK")
            limit = market.band_high if side == BUY else market.band_low
        else:
            try:
                price = Decimal(str(event["price"]))
            except (KeyError, InvalidOperation) as exc:
                return Rejection(seq, "bad_price", str(exc))
            ticks = price / market.tick
            if not price.is_finite() or ticks != ticks.to_integral_value():
                return Rejection(seq, "off_tick", f"a multiple of {market.tick}")
            limit = int(ticks)
            if not market.band_low <= limit <= market.band_high:
                return Rejection(
                    seq,
                    "price_out_of_band",
                    f"[{market.price_of(market.band_low)}, {market.price_of(market.band_high)}]",
                )
        expire_at = None
        if tif == "GTD":
            try:
                expire_at = _time(event["expire_at"])
            except (KeyError, ValueError) as exc:
                return Rejection(seq, "bad_expiry", str(exc))
            if expire_at <= now:
                return Rejection(seq, "bad_expiry", "expire_at must be after the entry time")
        elif "expire_at" in event:
            return Rejection(seq, "bad_expiry", "only GTD orders expire")
        return side, limit, qty, tif, expire_at

    def expire(self, now) -> list[str]:
        """Take out of the books every resting order that is dead at ``now`` (GTD past its expiry,
        or every order of an instrument whose window has opened) and return their ids. Matching
        already treats such orders as gone, so this changes no future trade: it only lets the
        caller release what they hold."""
        now = _time(now)
        gone = []
        for market in self.markets.values():
            if market.closed:
                continue
            if now >= market.instrument.window_start:
                gone.extend(market.resting)
                market.close()
                continue
            for order in [o for o in market.resting.values() if not _live(o, now)]:
                self._remove(market, order)
                gone.append(order.order_id)
        return gone

    def resting(self, code: str) -> list[tuple[str, str, Decimal, int]]:
        """The resting orders of an instrument in priority order per side: (id, side, price, remaining)."""
        market = self.markets.get(code)
        if market is None:
            return []
        return [
            (o.order_id, o.side, market.price_of(o.price), o.remaining)
            for side in (market.bids, market.asks)
            for o in side.in_priority()
        ]

    # --- matching -------------------------------------------------------------------------------

    def _crosses(self, side: str, limit: int, price: int) -> bool:
        return price <= limit if side == BUY else price >= limit

    def _fillable(self, market: _Market, order: _Order, now: datetime) -> int:
        """What could fill now: contra orders in priority at acceptable prices, up to the first
        of the order's own organisation (self-trade prevention stops there)."""
        contra = market.asks if order.side == BUY else market.bids
        total = 0
        for resting in contra.in_priority():
            if not self._crosses(order.side, order.price, resting.price) or total >= order.remaining:
                break
            if not _live(resting, now):
                continue
            if resting.org == order.org:
                break
            total += resting.remaining
        return total

    def _match(self, market: _Market, order: _Order, tif: str, now: datetime) -> Result:
        result = Result(order.seq)
        if tif == "FOK" and self._fillable(market, order, now) < order.remaining:
            result.outcome = "cancelled"
            return result
        contra = market.asks if order.side == BUY else market.bids
        self_trade = False
        while order.remaining:
            price = contra.best()
            if price is None or not self._crosses(order.side, order.price, price):
                break
            queue = contra.levels[price]
            resting = queue[0]
            if not _live(resting, now):  # a GTD order whose time has come expires here
                self._remove(market, resting)
                result.expired.append(resting.order_id)
                continue
            if resting.org == order.org:
                self_trade = True
                break
            qty = min(order.remaining, resting.remaining)
            order.remaining -= qty
            resting.remaining -= qty
            buy, sell = (order, resting) if order.side == BUY else (resting, order)
            result.trades.append(
                Trade(
                    order.seq,
                    market.instrument.code,
                    market.price_of(price),
                    qty,
                    buy.order_id,
                    sell.order_id,
                    resting.order_id,
                )
            )
            if not resting.remaining:
                self._remove(market, resting)
        if not order.remaining:
            result.outcome = "filled"
        elif tif in ("GTC", "GTD") and not self_trade:
            (market.bids if order.side == BUY else market.asks).add(order)
            market.resting[order.order_id] = order
            result.outcome = "rested"
        else:
            result.outcome = "cancelled"
        return result

    def _remove(self, market: _Market, order: _Order) -> None:
        side = market.bids if order.side == BUY else market.asks
        queue = side.levels[order.price]
        queue.remove(order)
        if not queue:
            side.drop_level(order.price)
        market.resting.pop(order.order_id, None)


def trade_line(number: int, trade: Trade) -> dict:
    """A trade as the §9 replay prints it."""
    return {
        "trade": number,
        "seq": trade.seq,
        "instrument": trade.instrument,
        "price": str(trade.price),
        "qty": trade.qty,
        "buy_order_id": trade.buy_order_id,
        "sell_order_id": trade.sell_order_id,
        "maker_order_id": trade.maker_order_id,
    }


def order_check(
    *, instrument: str, reference_price: Decimal, tick: Decimal, lot: int, event: dict, now
) -> Rejection | None:
    """The §4 rules for a new order (window, side, type, tick, band, lot, time in force, expiry),
    exactly as matching applies them, for refusing an order at entry. None when it passes."""
    try:
        market = _Market(instrument_parse(instrument), Decimal(reference_price), Decimal(tick), int(lot))
    except InstrumentCodeError as exc:
        return Rejection(0, "unknown_instrument", str(exc))
    now = _time(now)
    if now >= market.instrument.window_start:
        return Rejection(0, "instrument_closed", instrument)
    checked = Engine()._check(market, 0, now, event)
    return checked if isinstance(checked, Rejection) else None
