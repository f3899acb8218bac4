"""An instrument's order log (trading standard §9): its listing (seq 1), its orders and its cancel
requests, in seq order, in the JSON shape the engine applies and the export writes."""

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from heapq import merge
from itertools import islice
from operator import itemgetter

from django.db import connections, router

from accounts.models import Organisation
from config.rows import rows_later
from marketplace.models import Instrument, Order, OrderCancel


def _places(instrument: Instrument):
    return instrument.tick.normalize()


def listing_event(instrument: Instrument) -> dict:
    tick = _places(instrument)
    return {
        "seq": 1,
        "ts": instrument.listed_at.isoformat(),
        "event": "instrument",
        "instrument": instrument.code,
        "reference_price": str(instrument.reference_price.quantize(tick)),
        "tick": str(tick),
        "lot": instrument.lot,
    }


def _order_event(code: str, price_text: Callable[[Decimal], str], row: tuple) -> dict:
    """The §9 event of an order's row (``ORDER_COLUMNS``); ``price_text`` writes a limit price with
    the instrument's tick's places."""
    pk, seq, created_at, org, side, type_, price, qty, tif, expire_at = row[:10]  # a batch's rows go on
    event = {
        "seq": seq,
        "ts": created_at.isoformat(),
        "event": "new",
        "instrument": code,
        "order_id": str(pk),
        "org": org,
        "side": side,
        "type": type_,
    }
    if price is not None:
        event["price"] = price_text(price)
    event["qty"] = qty
    event["tif"] = tif
    if expire_at is not None:
        event["expire_at"] = expire_at.isoformat()
    return event


def _cancel_event(code: str, row: tuple) -> dict:
    seq, created_at, order_id = row  # CANCEL_COLUMNS
    return {"seq": seq, "ts": created_at.isoformat(), "event": "cancel", "instrument": code, "order_id": str(order_id)}


def _price_text(instrument: Instrument) -> Callable[[Decimal], str]:
    """A limit price as the log writes it, with the tick's places: a batch's orders repeat a few
    hundred prices, so each is written once."""
    places, written = _places(instrument), {}

    def text(price):
        if price not in written:
            written[price] = str(price.quantize(places))
        return written[price]

    return text


ORDER_COLUMNS = ("pk", "seq", "created_at", "organisation__slug", "side", "type", "price", "qty", "tif", "expire_at")
# what a batch's read adds to an order's row for matching, which takes a new order's state from it
ORDER_STATE_COLUMNS = ("organisation_id", "filled_qty", "filled_notional", "status", "end_reason", "hold_id")
CANCEL_COLUMNS = ("seq", "created_at", "order_id")


def _batch_rows(instrument: Instrument, after_seq: int, upto_seq: int | None, limit: int):
    """The orders' and the cancels' rows of a batch (tuples of ``ORDER_COLUMNS`` followed by
    ``ORDER_STATE_COLUMNS``, and of ``CANCEL_COLUMNS``), the values ``log_events`` reads through the
    ORM and the orders' state, each as a function that makes them (``config.rows.rows_later``:
    the queries run now), by two plain queries on PostgreSQL (matching reads a batch every few
    tens of milliseconds under load, and compiling the two ORM queries cost more Python than
    running them); None elsewhere (SQLite's raw rows need the fields' converters)."""
    connection = connections[router.db_for_read(Order)]
    if connection.vendor != "postgresql":
        return None
    # the next ``limit`` events lie in (after_seq, after_seq + limit]: an instrument's orders and
    # cancels share its seqs, each drawn under the instrument's lock by the transaction that
    # writes it. Bounded so, the read takes those rows by the index in order; bounded only by
    # LIMIT, the planner (its statistics end before the newest rows) read every unmatched row
    # and sorted them, the whole backlog for every batch
    upto_seq = after_seq + limit if upto_seq is None else min(upto_seq, after_seq + limit)
    state = ", ".join(f"o.{column}" for column in ORDER_STATE_COLUMNS)
    orders_sql = (
        f"SELECT o.id, o.seq, o.created_at, g.slug, o.side, o.type, o.price, o.qty, o.tif, o.expire_at, {state} "  # noqa: S608
        f"FROM (SELECT * FROM {Order._meta.db_table} WHERE instrument_id = %s AND seq > %s AND seq <= %s) o "
        f"JOIN {Organisation._meta.db_table} g ON g.id = o.organisation_id ORDER BY o.seq"
    )
    cancels_sql = (
        f"SELECT seq, created_at, order_id FROM {OrderCancel._meta.db_table} "  # noqa: S608
        "WHERE instrument_id = %s AND seq > %s AND seq <= %s ORDER BY seq"
    )
    params = [instrument.pk, after_seq, upto_seq]
    return rows_later(Order, orders_sql, params), rows_later(OrderCancel, cancels_sql, params)


def log_events(*, instrument: Instrument, after_seq: int = 0, upto_seq: int | None = None, limit: int | None = None):
    """The log's events with after_seq < seq ≤ upto_seq, at most ``limit`` of them."""
    rows = _batch_rows(instrument, after_seq, upto_seq, limit) if limit is not None else None
    if rows is not None:
        orders, cancels = rows
        yield from _events(instrument, orders(), cancels(), after_seq=after_seq, upto_seq=upto_seq, limit=limit)
        return
    orders = Order.objects.filter(instrument=instrument, seq__gt=after_seq)
    cancels = OrderCancel.objects.filter(instrument=instrument, seq__gt=after_seq)
    if upto_seq is not None:
        orders, cancels = orders.filter(seq__lte=upto_seq), cancels.filter(seq__lte=upto_seq)
    orders = orders.order_by("seq").values_list(*ORDER_COLUMNS)
    cancels = cancels.order_by("seq").values_list(*CANCEL_COLUMNS)
    if limit is not None:
        orders, cancels = orders[:limit], cancels[:limit]
    if limit is None:  # the whole log (export, replay): streamed from server-side cursors
        orders, cancels = orders.iterator(chunk_size=2000), cancels.iterator(chunk_size=2000)
    # else a batch (matching): fetched at once, one round trip each (a server-side cursor's
    # DECLARE, FETCH and CLOSE are three, and matching reads every few milliseconds under load)
    yield from _events(instrument, orders, cancels, after_seq=after_seq, upto_seq=upto_seq, limit=limit)


class LogBatch:
    """A batch of the log after ``after_seq``, read when made (``log_batch_read``), its rows and
    events made later: ``rows_steps`` makes the rows a few at a time, ``orders()`` gives the
    orders' rows (``ORDER_COLUMNS`` + ``ORDER_STATE_COLUMNS``, none where the read did not bring
    them: elsewhere than on PostgreSQL, where the events are made at once), ``events()`` the
    events (``log_events``)."""

    def __init__(self, instrument: Instrument, *, after_seq: int, limit: int):
        self.instrument, self.after_seq, self.limit = instrument, after_seq, limit
        self._rows = _batch_rows(instrument, after_seq, None, limit)
        self._events = None if self._rows else list(log_events(instrument=instrument, after_seq=after_seq, limit=limit))

    def rows_steps(self, size: int) -> Iterator[None]:
        for rows in self._rows or ():
            while not rows.fetch(size):
                yield

    def orders(self) -> list[tuple]:
        return self._rows[0]() if self._rows else []

    def events(self) -> Iterator[dict]:
        if self._events is not None:
            return iter(self._events)
        orders, cancels = self._rows
        return _events(self.instrument, orders(), cancels(), after_seq=self.after_seq, upto_seq=None, limit=self.limit)


def log_batch_read(*, instrument: Instrument, after_seq: int, limit: int) -> LogBatch:
    """Read the batch of the log after ``after_seq`` now, with its orders' state; its rows and
    events are made later. Matching reads the next batch before its last writes and makes its
    events while the database runs them. Elsewhere than on PostgreSQL, the events are made now."""
    return LogBatch(instrument, after_seq=after_seq, limit=limit)


def _events(instrument: Instrument, orders, cancels, *, after_seq: int, upto_seq: int | None, limit: int | None):
    """The events of the order and cancel rows (tuples of ``ORDER_COLUMNS`` and ``CANCEL_COLUMNS``,
    each in seq order), merged in seq order, the listing first when it is in range."""
    code, price_text = instrument.code, _price_text(instrument)
    events = (_order_event(code, price_text, row) for row in orders)
    if not isinstance(cancels, list) or cancels:  # a batch read at once often has none: no merge then
        events = merge(events, (_cancel_event(code, row) for row in cancels), key=itemgetter("seq"))
    count = 0
    if after_seq < 1 and (upto_seq is None or upto_seq >= 1):
        yield listing_event(instrument)
        count += 1
    if limit is not None:
        events = islice(events, limit - count)
    yield from events


def log_lines(*, instrument: Instrument):
    """The order log as JSON Lines, one event a line in seq order: what ``manage.py
    export_order_log`` writes and the operator console downloads (the same bytes)."""
    for event in log_events(instrument=instrument):
        yield json.dumps(event) + "\n"
