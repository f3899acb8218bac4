"""Operations of the wholesale exchange; pages, API, commands and tasks call these."""

from marketplace.services.instruments import instrument_ensure, instruments_list, upcoming_windows
from marketplace.services.matching import (
    books_forget,
    instrument_match,
    instrument_sweep,
    instruments_due_for_sweep,
    instruments_with_backlog,
)
from marketplace.services.orders import OrderTerms, order_cancel, order_place, orders_place_batch

__all__ = [
    "OrderTerms",
    "books_forget",
    "instrument_ensure",
    "instrument_match",
    "instrument_sweep",
    "instruments_due_for_sweep",
    "instruments_list",
    "instruments_with_backlog",
    "order_cancel",
    "order_place",
    "orders_place_batch",
    "upcoming_windows",
]
