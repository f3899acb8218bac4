"""What the engine hands back at its edges: trades with exact Decimal prices, rejections, results."""

from dataclasses import dataclass, field
from decimal import Decimal


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


_new = object.__new__
_set = object.__setattr__


def trade_make(seq, instrument, price, qty, buy_order_id, sell_order_id, maker_order_id) -> Trade:
    """``Trade(...)`` without the frozen dataclass's seven guarded ``__setattr__`` calls: the same
    frozen, equal, hashable value, made in a sixth of the time."""
    trade = _new(Trade)
    _set(
        trade,
        "__dict__",
        {
            "seq": seq,
            "instrument": instrument,
            "price": price,
            "qty": qty,
            "buy_order_id": buy_order_id,
            "sell_order_id": sell_order_id,
            "maker_order_id": maker_order_id,
        },
    )
    return trade


def result_make(seq: int, trades: list[Trade], outcome: str, expired: list[str]) -> Result:
    """``Result(seq, trades, None, outcome, expired)`` for an accepted order, made the same way."""
    result = _new(Result)
    result.__dict__ = {"seq": seq, "trades": trades, "rejection": None, "outcome": outcome, "expired": expired}
    return result


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
