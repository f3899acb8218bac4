"""The matching engine core (trading standard §2, §4, §9): pure Python, no Django import, exact
decimals at its edges and integer ticks inside. A deterministic function of the accepted events,
so replaying an order log reproduces its trades byte for byte."""

from marketplace.engine.instruments import Instrument, InstrumentCodeError, instrument_parse
from marketplace.engine.matching import Ack, Engine, order_check, order_checker
from marketplace.engine.records import Rejection, Result, Trade, trade_line

__all__ = [
    "Ack",
    "Engine",
    "Instrument",
    "InstrumentCodeError",
    "Rejection",
    "Result",
    "Trade",
    "instrument_parse",
    "order_check",
    "order_checker",
    "trade_line",
]
