"""Continuous price-time matching (trading standard §4) and replay semantics (§9).

``Engine.apply(event)`` takes one order-log event (the JSON shape of §9, strings for decimals and
times) and returns what it did: the trades it caused, in execution order, or why it was rejected.
An event the rules reject changes nothing. Prices are integer ticks inside; a trade executes at
the resting (maker) order's price.

``Engine.submit`` and ``Engine.cancel`` are the same operations for a caller that already holds
typed values (integer ticks, aware datetimes), answered with plain tuples instead of Result and
Decimal Trades. They are the one implementation: ``apply`` reads and checks an event's strings and
hands the order to ``submit``, so the two cannot drift apart (test_engine_fastpath checks that
submitting typed values does exactly what applying the events does).

The hot path is written for CPython's interpreter: a plain GTC limit order is recognised by one
combined test and anything else goes through every check in order (``order_refusal``); the books
hold tuples (see book.py); one dict of every order id accepted answers both "seen before?" and
"which resting order is this?", its entries keeping their hashes (see ``Engine.__init__``).
"""

from bisect import insort
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation

from marketplace.engine.book import BAND_HIGH, BAND_LOW, CODE, EXPIRES, ID, LEFT, PRICE, SEQ, Market
from marketplace.engine.checks import BUY, SELL, TIFS, event_check, order_refusal, time_parse
from marketplace.engine.instruments import InstrumentCodeError, instrument_parse
from marketplace.engine.records import Rejection, Result, Trade, result_make, trade_line, trade_make

# BAND_*, BUY, SELL, TIFS, Rejection, Result, Trade and trade_line were defined here before the
# engine became a package; importing them from here keeps working.
__all__ = [
    "BAND_HIGH",
    "BAND_LOW",
    "BUY",
    "SELL",
    "TIFS",
    "Ack",
    "Engine",
    "Rejection",
    "Result",
    "Trade",
    "order_check",
    "trade_line",
]

# What submit and cancel answer: (outcome, fills, expired, rejection), the fields of a Result in
# plain values. A fill is (maker order id, price in ticks, qty), the taker being the order
# submitted; expired are the ids of resting GTD orders found dead and taken out while matching.
Ack = tuple[str, Sequence[tuple[str, int, int]], Sequence[str], Rejection | None]
_RESTED: Ack = ("rested", (), (), None)
_CANCELLED: Ack = ("cancelled", (), (), None)
_fromisoformat = datetime.fromisoformat


_NOT_AN_ID = object()  # the order table's first key (see Engine.__init__)


def _entered(order: tuple) -> int:
    return order[SEQ]


def _refused(seq: int, reason: str, detail: str) -> Ack:
    return "", (), (), Rejection(seq, reason, detail)


class Engine:
    """Order books of any number of instruments, fed one accepted event at a time."""

    def __init__(self):
        self.markets: dict[str, Market] = {}
        # every order id accepted, to its order while that rests, else to None: one table answers
        # both "seen before?" and "which resting order is this?". Its first key is not a string,
        # so CPython keeps each entry's hash beside it (a dict of strings only reads the hash from
        # the key): a new id's probe then compares hashes in the table without reading the id
        # strings of the entries it passes, a cache miss each once the table outgrows the cache
        # (a million ids: ours 10-15 % faster over a million orders on 2026-11-28's slower EPYC)
        self.orders: dict[str | object, tuple | None] = {_NOT_AN_ID: None}

    @property
    def seen_orders(self) -> set[str]:
        """The ids of every order accepted so far."""
        return self.orders.keys() - {_NOT_AN_ID}

    # --- events in the §9 shape -----------------------------------------------------------------

    def apply(self, event: dict) -> Result:
        seq = event["seq"]
        if seq.__class__ is not int:
            seq = int(seq)
        kind = event.get("event")
        handler = _HANDLERS.get(kind)
        if handler is None:
            return Result(seq, rejection=Rejection(seq, "unknown_event", str(kind)))
        try:
            value = event["ts"]
            if value.__class__ is not str:
                now = time_parse(value)
            else:  # time_parse, inlined for the common case
                now = _fromisoformat(value)  # "Z" is read as UTC since Python 3.11
                if now.tzinfo is None:
                    raise ValueError("times carry an offset")
        except (KeyError, ValueError) as exc:
            return Result(seq, rejection=Rejection(seq, "bad_time", str(exc)))
        return handler(self, seq, now, event)

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
        self.markets[code] = Market(instrument, reference, tick, lot)
        return Result(seq)

    def _new(self, seq: int, now: datetime, event: dict) -> Result:
        code = event.get("instrument", "")
        market = self.markets.get(code)
        value = event.get("price")
        if (
            market is not None
            and value.__class__ is str
            and (limit := market.ticks_of.get(value)).__class__ is int  # a price string read before, in the band
            and event.get("type") == "limit"
            and event.get("tif") == "GTC"
            and "expire_at" not in event
        ):  # a plain GTC limit order: submit checks what is left to check, in event_check's order
            order_id = event.get("order_id")
            side, qty = event.get("side"), event.get("qty")
            outcome, fills, expired, rejection = self.submit(
                seq, now, code, order_id, event.get("org", ""), side, limit, qty, "GTC"
            )
            if rejection is not None:
                return Result(seq, rejection=rejection)
            buy = side == BUY
        else:
            order_id = event.get("order_id")
            if not order_id or order_id in self.orders:
                return Result(seq, rejection=Rejection(seq, "duplicate_order", str(order_id)))
            if market is None or now >= market.open_until:
                market = self._open_market(seq, now, code)
                if market.__class__ is Rejection:
                    return Result(seq, rejection=market)
            checked = event_check(market, seq, now, event)
            if checked.__class__ is Rejection:
                return Result(seq, rejection=checked)
            buy, limit, qty, tif, expire_at = checked  # a market order's limit is the band's edge
            outcome, fills, expired, _ = self.submit(
                seq, now, code, order_id, event.get("org", ""), event["side"], limit, qty, tif, expire_at
            )
        trades = []
        for maker, price, filled in fills:
            exact = market.prices.get(price) or market.price_of(price)
            if buy:
                trades.append(trade_make(seq, code, exact, filled, order_id, maker, maker))
            else:
                trades.append(trade_make(seq, code, exact, filled, maker, order_id, maker))
        return result_make(seq, trades, outcome, list(expired) if expired else [])

    def _cancel(self, seq: int, now: datetime, event: dict) -> Result:
        outcome, _, _, rejection = self.cancel(seq, now, event.get("instrument", ""), event.get("order_id"))
        return Result(seq, rejection=rejection, outcome=outcome)

    # --- the same in typed values ---------------------------------------------------------------

    def submit(
        self,
        seq: int,
        now: datetime,
        instrument: str,
        order_id: str,
        org: str,
        side: str,
        price: int | None,
        qty: int,
        tif: str,
        expire_at: datetime | None = None,
    ) -> Ack:
        """A new order with its price in whole ticks (None: a market order), at the aware time
        ``now``: checked as ``apply`` checks the same order in the §9 shape, then matched against
        the other side, best price then time, at the resting order's price. What is left rests
        (GTC, GTD) or is cancelled (IOC, FOK, market, or a self-trade: the newest order stops at
        the first resting order of its own organisation, after the fills before it)."""
        orders = self.orders
        if not order_id or order_id in orders:
            return _refused(seq, "duplicate_order", str(order_id))
        market = self.markets.get(instrument)
        if market is None or now >= market.open_until:
            market = self._open_market(seq, now, instrument)
            if market.__class__ is Rejection:
                return "", (), (), market
        buy = side == "buy"
        if (
            tif == "GTC"
            and expire_at is None
            and price.__class__ is int
            and market.band_low <= price <= market.band_high
            and qty.__class__ is int
            and qty > 0
            and not qty % market.lot
            and (buy or side == "sell")
        ):  # a plain, valid GTC limit order
            kill = False
        else:  # every check, one by one
            refusal = order_refusal(market, seq, now, side, price, qty, tif, expire_at)
            if refusal is not None:
                return "", (), (), refusal
            if price is None:  # a market order: IOC or FOK, limited to the band
                price = market.band_high if buy else market.band_low
            if tif == "FOK" and market.fillable(buy, price, qty, org, now) < qty:
                orders[order_id] = None
                return _CANCELLED
            kill = tif == "IOC" or tif == "FOK"  # what does not fill now is cancelled

        # match: the best contra level is keys[0], and it crosses while its key <= limit_key
        if buy:
            contra, own, limit_key = market.asks, market.bids, price
        else:
            contra, own, limit_key = market.bids, market.asks, -price
        keys = contra.keys
        if keys[0] <= limit_key:
            remaining, fills, expired, self_trade, levels = qty, [], (), False, contra.levels
            while True:
                key = keys[0]
                queue = levels[key]
                maker, maker_org, maker_price, left, expires, maker_seq, maker_buy, maker_code = queue[0]
                if expires is not None and now >= expires:  # a GTD order whose time has come
                    queue.popleft()
                    orders[maker] = None
                    if not queue:
                        del levels[key], keys[0]
                    if not expired:
                        expired = []
                    expired.append(maker)
                elif maker_org == org:
                    self_trade = True
                    break
                elif left > remaining:
                    queue[0] = orders[maker] = (
                        maker,
                        maker_org,
                        maker_price,
                        left - remaining,
                        expires,
                        maker_seq,
                        maker_buy,
                        maker_code,
                    )
                    fills.append((maker, maker_price, remaining))
                    remaining = 0
                    break
                else:
                    fills.append((maker, maker_price, left))
                    remaining -= left
                    queue.popleft()
                    orders[maker] = None
                    if not queue:
                        del levels[key], keys[0]
                    if not remaining:
                        break
                if keys[0] > limit_key:
                    break
            if not remaining:
                orders[order_id] = None
                return "filled", fills, expired, None
            if self_trade or kill:
                orders[order_id] = None
                return "cancelled", fills, expired, None
            qty, ack = remaining, ("rested", fills, expired, None)
        elif kill:
            orders[order_id] = None
            return _CANCELLED
        else:
            ack = _RESTED

        # rest what is left
        order = orders[order_id] = (order_id, org, price, qty, expire_at, seq, buy, instrument)
        key = -limit_key
        queue = own.levels.get(key)
        if queue is None:
            queue = own.levels[key] = deque()
            insort(own.keys, key)
        queue.append(order)
        return ack

    def cancel(self, seq: int, now: datetime, instrument: str, order_id: str) -> Ack:
        """Take a live resting order out of its book."""
        market = self._open_market(seq, now, instrument)
        if market.__class__ is Rejection:
            return "", (), (), market
        order = self.orders.get(order_id)
        if order is None or order[CODE] != market.code or (order[EXPIRES] is not None and now >= order[EXPIRES]):
            return _refused(seq, "unknown_order", str(order_id))
        market.remove(order)
        self.orders[order_id] = None
        return "cancelled", (), (), None

    def _open_market(self, seq: int, now: datetime, code: str) -> Market | Rejection:
        market = self.markets.get(code)
        if market is None:
            return Rejection(seq, "unknown_instrument", code)
        if not market.closed and now >= market.window_start:
            self.orders.update(dict.fromkeys(market.close()))
        if market.closed:
            return Rejection(seq, "instrument_closed", code)
        return market

    # --- sweeping and reading -------------------------------------------------------------------

    def expire(self, now) -> list[str]:
        """Take out of the books every resting order that is dead at ``now`` (GTD past its expiry,
        or every order of an instrument whose window has opened) and return their ids. Matching
        already treats such orders as gone, so this changes no future trade: it only lets the
        caller release what they hold."""
        now = time_parse(now)
        gone = []
        for market in self.markets.values():
            if market.closed:
                continue
            if now >= market.window_start:
                closed = market.close()
                self.orders.update(dict.fromkeys(closed))
                gone.extend(closed)
                continue
            in_book = (*market.bids.in_priority(), *market.asks.in_priority())
            dead = sorted((o for o in in_book if o[EXPIRES] is not None and now >= o[EXPIRES]), key=_entered)
            for order in dead:  # in the order they came to rest
                market.remove(order)
                self.orders[order[ID]] = None
                gone.append(order[ID])
        return gone

    def resting(self, code: str) -> list[tuple[str, str, Decimal, int]]:
        """The resting orders of an instrument in priority order per side: (id, side, price, remaining)."""
        market = self.markets.get(code)
        if market is None:
            return []
        return [
            (o[ID], name, market.price_of(o[PRICE]), o[LEFT])
            for name, side in ((BUY, market.bids), (SELL, market.asks))
            for o in side.in_priority()
        ]


_HANDLERS = {"instrument": Engine._instrument, "new": Engine._new, "cancel": Engine._cancel}


def order_checker(*, instrument: str, reference_price: Decimal, tick: Decimal, lot: int):
    """``order_check`` for many orders of one instrument: the instrument's rules built once.
    Returns ``check(event, now) -> Rejection | None``."""
    try:
        market = Market(instrument_parse(instrument), Decimal(reference_price), Decimal(tick), int(lot))
    except InstrumentCodeError as exc:
        refusal = Rejection(0, "unknown_instrument", str(exc))
        return lambda event, now: refusal

    def check(event: dict, now) -> Rejection | None:
        now = time_parse(now)
        if now >= market.window_start:
            return Rejection(0, "instrument_closed", instrument)
        checked = event_check(market, 0, now, event)
        return checked if checked.__class__ is Rejection else None

    return check


def order_check(
    *, instrument: str, reference_price: Decimal, tick: Decimal, lot: int, event: dict, now
) -> Rejection | None:
    """The §4 rules for a new order (window, side, type, tick, band, lot, time in force, expiry),
    exactly as matching applies them, for refusing an order at entry. None when it passes."""
    check = order_checker(instrument=instrument, reference_price=reference_price, tick=tick, lot=lot)
    return check(event, now)
