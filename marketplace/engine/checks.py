"""The §4 checks on a new order, on the fields of a §9 event (strings for decimals and times) and
on typed values (integer ticks, aware datetimes), in the same order so both refuse an order for
the same first reason.

Events carry decimals and times as strings. A log repeats a few hundred price strings a million
times, so each market remembers what each price string came to (its ticks, or why it is refused);
the answer is a pure function of the string and the market's tick and band, so remembering it
changes nothing but the time taken.
"""

from datetime import datetime
from decimal import Decimal, InvalidOperation

from marketplace.engine.book import Market
from marketplace.engine.records import Rejection

TIFS = ("GTC", "GTD", "IOC", "FOK")
BUY, SELL = "buy", "sell"
REMEMBERED_PRICES = 65536  # per market; past this, prices are parsed every time
_fromisoformat = datetime.fromisoformat


def time_parse(value) -> datetime:
    if value.__class__ is str:
        moment = _fromisoformat(value)  # "Z" is read as UTC since Python 3.11
    else:
        moment = value if isinstance(value, datetime) else _fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("times carry an offset")
    return moment


def lots(qty, lot: int) -> bool:
    """Whether qty is a whole, positive number of lots (an int, not a bool)."""
    return (qty.__class__ is int or (isinstance(qty, int) and not isinstance(qty, bool))) and qty > 0 and not qty % lot


def price_ticks(market: Market, value) -> int | tuple[str, str]:
    """A limit price in whole ticks, or (reason, detail) when it is not a price in the band."""
    try:
        price = Decimal(str(value))
    except InvalidOperation as exc:
        return "bad_price", str(exc)
    ticks = price / market.tick
    if not price.is_finite() or ticks != ticks.to_integral_value():
        return "off_tick", f"a multiple of {market.tick}"
    limit = int(ticks)
    if not market.band_low <= limit <= market.band_high:
        return "price_out_of_band", market.band()
    return limit


def event_check(market: Market, seq: int, now: datetime, event: dict):
    """The §4 rules a new order must pass: side, type, tick, band, lot, time in force, expiry.
    Returns the Rejection, or ``(buy, limit in ticks, qty, tif, expire_at)``."""
    side, kind, tif = event.get("side"), event.get("type"), event.get("tif")
    if side not in (BUY, SELL):
        return Rejection(seq, "bad_side", str(side))
    if kind not in ("limit", "market"):
        return Rejection(seq, "bad_type", str(kind))
    if tif not in TIFS:
        return Rejection(seq, "bad_tif", str(tif))
    qty = event.get("qty")
    if not lots(qty, market.lot):
        return Rejection(seq, "bad_lot", f"a positive multiple of {market.lot}")
    buy = side == BUY
    if kind == "market":
        if tif not in ("IOC", "FOK") or "price" in event:
            return Rejection(seq, "bad_market_order", "a market order has no price and is IOC or FOK")
        limit = market.band_high if buy else market.band_low
    else:
        try:
            value = event["price"]
        except KeyError as exc:
            return Rejection(seq, "bad_price", str(exc))
        if value.__class__ is str:
            remembered = market.ticks_of
            limit = remembered.get(value)
            if limit is None:
                limit = price_ticks(market, value)
                if len(remembered) < REMEMBERED_PRICES:
                    remembered[value] = limit
        else:
            limit = price_ticks(market, value)
        if limit.__class__ is tuple:
            return Rejection(seq, *limit)
    expire_at = None
    if tif == "GTD":
        try:
            expire_at = time_parse(event["expire_at"])
        except (KeyError, ValueError) as exc:
            return Rejection(seq, "bad_expiry", str(exc))
        if expire_at <= now:
            return Rejection(seq, "bad_expiry", "expire_at must be after the entry time")
    elif "expire_at" in event:
        return Rejection(seq, "bad_expiry", "only GTD orders expire")
    return buy, limit, qty, tif, expire_at


def order_refusal(market: Market, seq: int, now: datetime, side, price, qty, tif, expire_at) -> Rejection | None:
    """The §4 rules on typed values, in ``event_check``'s order: side, time in force, lot, price
    (None for a market order, else whole ticks in the band), expiry. None when the order passes."""
    if side not in (BUY, SELL):
        return Rejection(seq, "bad_side", str(side))
    if tif not in TIFS:
        return Rejection(seq, "bad_tif", str(tif))
    if not lots(qty, market.lot):
        return Rejection(seq, "bad_lot", f"a positive multiple of {market.lot}")
    if price is None:
        if tif not in ("IOC", "FOK"):
            return Rejection(seq, "bad_market_order", "a market order has no price and is IOC or FOK")
    elif price.__class__ is not int:
        return Rejection(seq, "off_tick", "a price in whole ticks")
    elif not market.band_low <= price <= market.band_high:
        return Rejection(seq, "price_out_of_band", market.band())
    if tif == "GTD":
        if expire_at is None or expire_at <= now:
            return Rejection(seq, "bad_expiry", "expire_at must be after the entry time")
    elif expire_at is not None:
        return Rejection(seq, "bad_expiry", "only GTD orders expire")
    return None
