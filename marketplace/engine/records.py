"""What the engine hands back at its edges: trades with exact Decimal prices, rejections, results.

Every event makes a Result and every fill a Trade, so both are made by the cheapest means Python
has: a Trade is a named tuple (made by ``tuple.__new__``), a Result a slotted dataclass whose
fields ``result_make`` sets directly. Replaying an order log spends more on these edges than on
matching itself."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple


class Trade(NamedTuple):
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


@dataclass(slots=True)
class Result:
    seq: int
    trades: list[Trade] = field(default_factory=list)
    rejection: Rejection | None = None
    # for a new order: "rested", "filled", "cancelled" (IOC/market remainder, FOK unfilled, self-trade)
    outcome: str = ""
    # resting GTD orders found past their expiry while matching, removed from the book
    expired: list[str] = field(default_factory=list)


_new = object.__new__
_tuple = tuple.__new__


def trade_make(seq, instrument, price, qty, buy_order_id, sell_order_id, maker_order_id) -> Trade:
    """``Trade(...)`` without the named tuple's own ``__new__`` (a Python function): the same value
    in about half the time."""
    return _tuple(Trade, (seq, instrument, price, qty, buy_order_id, sell_order_id, maker_order_id))


def result_make(seq: int, trades: list[Trade], outcome: str, expired: list[str]) -> Result:
    """``Result(seq, trades, None, outcome, expired)`` for an accepted order, without the
    dataclass's ``__init__`` and its default factories: about half the time."""
    result = _new(Result)
    result.seq, result.trades, result.rejection, result.outcome, result.expired = seq, trades, None, outcome, expired
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
