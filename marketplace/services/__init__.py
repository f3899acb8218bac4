"""Operations of the wholesale exchange; pages, API, commands and tasks call these."""

from marketplace.services.instruments import instrument_ensure, instruments_list, upcoming_windows
from marketplace.services.listings import ListingTerms, listing_create, listing_withdraw
from marketplace.services.matching import (
    books_forget,
    instrument_match,
    instrument_sweep,
    instruments_due_for_sweep,
    instruments_with_backlog,
)
from marketplace.services.orders import OrderTerms, order_cancel, order_place, order_place_within, orders_place_batch
from marketplace.services.reservations import (
    ReservationTerms,
    reservation_cancel,
    reservation_place,
    reservation_place_within,
    reservation_preview,
    reservation_quote,
    reservations_complete,
)

__all__ = [
    "ListingTerms",
    "OrderTerms",
    "ReservationTerms",
    "books_forget",
    "instrument_ensure",
    "instrument_match",
    "instrument_sweep",
    "instruments_due_for_sweep",
    "instruments_list",
    "instruments_with_backlog",
    "listing_create",
    "listing_withdraw",
    "order_cancel",
    "order_place",
    "order_place_within",
    "orders_place_batch",
    "reservation_cancel",
    "reservation_place",
    "reservation_place_within",
    "reservation_preview",
    "reservation_quote",
    "reservations_complete",
    "upcoming_windows",
]
