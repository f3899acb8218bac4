"""An instrument's order log (trading standard §9): its listing (seq 1), its orders and its cancel
requests, in seq order, in the JSON shape the engine applies and the export writes."""

from heapq import merge

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


def _order_event(instrument: Instrument, row: dict) -> dict:
    event = {
        "seq": row["seq"],
        "ts": row["created_at"].isoformat(),
        "event": "new",
        "instrument": instrument.code,
        "order_id": str(row["pk"]),
        "org": row["organisation__slug"],
        "side": row["side"],
        "type": row["type"],
    }
    if row["price"] is not None:
        event["price"] = str(row["price"].quantize(_places(instrument)))
    event["qty"] = row["qty"]
    event["tif"] = row["tif"]
    if row["expire_at"] is not None:
        event["expire_at"] = row["expire_at"].isoformat()
    return event


def _cancel_event(instrument: Instrument, row: dict) -> dict:
    return {
        "seq": row["seq"],
        "ts": row["created_at"].isoformat(),
        "event": "cancel",
        "instrument": instrument.code,
        "order_id": str(row["order_id"]),
    }


def log_events(*, instrument: Instrument, after_seq: int = 0, upto_seq: int | None = None, limit: int | None = None):
    """The log's events with after_seq < seq ≤ upto_seq, at most ``limit`` of them."""
    orders = Order.objects.filter(instrument=instrument, seq__gt=after_seq)
    cancels = OrderCancel.objects.filter(instrument=instrument, seq__gt=after_seq)
    if upto_seq is not None:
        orders, cancels = orders.filter(seq__lte=upto_seq), cancels.filter(seq__lte=upto_seq)
    orders = orders.order_by("seq").values(
        "pk", "seq", "created_at", "organisation__slug", "side", "type", "price", "qty", "tif", "expire_at"
    )
    cancels = cancels.order_by("seq").values("seq", "created_at", "order_id")
    if limit is not None:
        orders, cancels = orders[:limit], cancels[:limit]
    if limit is None:  # the whole log (export, replay): streamed from server-side cursors
        orders, cancels = orders.iterator(chunk_size=2000), cancels.iterator(chunk_size=2000)
    # else a batch (matching): fetched at once, one round trip each (a server-side cursor's
    # DECLARE, FETCH and CLOSE are three, and matching reads every few milliseconds under load)
    events = merge(
        (_order_event(instrument, row) for row in orders),
        (_cancel_event(instrument, row) for row in cancels),
        key=lambda e: e["seq"],
    )
    count = 0
    if after_seq < 1 and (upto_seq is None or upto_seq >= 1):
        yield listing_event(instrument)
        count += 1
    for event in events:
        if limit is not None and count >= limit:
            return
        yield event
        count += 1
