"""The matching adapter: feeds an instrument's accepted events, in seq order, to the pure engine
and commits what it decided — trades, order states, contracts, ledger postings, capacity — in one
transaction per batch, with ``MatchState.matched_seq``.

Exactly once: a batch commits its effects and its new ``matched_seq`` together, so a worker killed
anywhere loses nothing and repeats nothing; the next run starts after the committed seq. The
engine's books live in the worker's memory between runs and are rebuilt by replaying the log up
to ``matched_seq`` whenever the memory and the database disagree (a new process, another worker
ran meanwhile, a batch rolled back). One instrument is matched by one worker at a time: tasks are
routed by instrument and take a PostgreSQL advisory lock.

A full batch reads the next batch's events before its last writes (holds, orders, the match state)
and, while the database runs those writes, applies them to the books and, when every order they
touch is in memory (``OrderRecords``), works out what they change; the next batch takes that
unless the database shows another run came between.
"""

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from config.memory import no_cyclic_gc
from marketplace.engine import Engine, Result
from marketplace.live import changes_publish
from marketplace.locks import instrument_lock, match_state_lock
from marketplace.models import FINAL_STATUSES, Instrument, MatchState, Order
from marketplace.selectors import match_batch_name
from marketplace.services.log import log_batch_read, log_events
from marketplace.services.orders import instrument_tick
from marketplace.services.records import OrderRecords
from marketplace.services.settle import Applier

ADVISORY_CLASS = 0x5A4C  # "SL": the advisory-lock namespace of matching
# the next batch made and applied a step at a time while a batch waits for PostgreSQL: a step
# (about a millisecond) must not keep PostgreSQL waiting long once it is done
READ_STEP = 500  # rows made
AHEAD_STEP = 250  # events applied


@dataclass
class _Book:
    engine: Engine
    matched_seq: int
    records: OrderRecords = field(default_factory=OrderRecords)
    # the next batch's events, what the engine made of them and, if it read nothing, the applier
    # that applied them, while this batch's last writes ran
    ahead: tuple[list[dict], list[Result], Applier | None] | None = None
    # what the last batch leaves (its events, results and applier) when another is applied ahead:
    # freed by that one's first step, while PostgreSQL works, rather than as the batch returns
    # (some milliseconds for 5,000 events)
    spent: tuple | None = None


_books: dict[int, _Book] = {}


def _advisory_lock(instrument_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_CLASS, instrument_id])


def _rebuild(instrument: Instrument, upto_seq: int) -> _Book:
    """The books as they stood after ``upto_seq``: the log replayed through a fresh engine."""
    engine = Engine()
    for event in log_events(instrument=instrument, upto_seq=upto_seq):
        engine.apply(event)
    return _Book(engine, upto_seq)


def books_forget() -> None:
    """Drop every book held in memory (tests; a worker does this by dying)."""
    _books.clear()


def _apply_ahead(book: _Book, following: "_Read", instrument: Instrument,
                 trade_number: int) -> Iterator[None]:  # fmt: skip
    """The next batch's events applied to the books while this batch writes, in steps of
    ``AHEAD_STEP`` events (``Applier.flush`` takes one whenever it waits for PostgreSQL), and what
    they change worked out if that reads nothing (the connection is busy with those writes). The
    next batch takes them if the database says nothing came between (``matched_seq`` as the book
    left it); else the books are rebuilt, and a batch that fails drops them."""
    book.spent = None
    yield
    events = yield from following.steps(READ_STEP)
    results = []
    for start in range(0, len(events), AHEAD_STEP):
        results.extend(book.engine.apply(event) for event in events[start : start + AHEAD_STEP])
        yield
    applier = Applier(instrument=instrument, trade_number=trade_number, records=book.records)
    if applier.in_memory(events, results):
        for start in range(0, len(events), AHEAD_STEP):
            applier.apply_all(events[start : start + AHEAD_STEP], results[start : start + AHEAD_STEP])
            yield
    else:
        applier = None
    book.ahead = (events, results, applier)


class _Read:
    """A batch of the log read now, with its sells' allocations; its rows, events and new orders'
    records made later (``steps``), a few rows at a time: a batch read ahead is made while this
    batch waits for PostgreSQL."""

    def __init__(self, book: _Book, instrument: Instrument, *, after_seq: int, limit: int):
        self.records = book.records
        self.log = log_batch_read(instrument=instrument, after_seq=after_seq, limit=limit)
        self.allocations = OrderRecords.allocations_later(instrument_id=instrument.pk, after_seq=after_seq, limit=limit)

    def steps(self, size: int) -> Generator[None, None, list[dict]]:
        """Make the batch ``size`` rows a step (yielding after each); returns its events, its new
        orders taken into the records."""
        yield from self.log.rows_steps(size)
        while self.allocations is not None and not self.allocations.fetch(size):
            yield
        orders, sells = self.log.orders(), set()
        for start in range(0, len(orders), size):
            sells |= self.records.intake(orders[start : start + size])
            yield
        self.records.intake_allocations(sells, self.allocations() if self.allocations is not None else None)
        events, made = [], self.log.events()
        while chunk := list(islice(made, size)):
            events += chunk
            yield
        return events

    def events(self) -> list[dict]:
        """Make the batch now."""
        steps = self.steps(READ_STEP)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value


def _batch(instrument_id: int, *, limit: int, sweep_at: datetime | None) -> int:
    with transaction.atomic(durable=True):
        _advisory_lock(instrument_id)
        state = match_state_lock(instrument_id=instrument_id)
        instrument = state.instrument
        book = _books.get(instrument_id)
        if book is None or book.matched_seq != state.matched_seq:
            book = _books[instrument_id] = _rebuild(instrument, state.matched_seq)
        if book.ahead is not None:
            (events, results, applier), book.ahead = book.ahead, None
        else:
            events = _Read(book, instrument, after_seq=state.matched_seq, limit=limit).events()
            results = [book.engine.apply(event) for event in events]
            applier = None
        if applier is None:
            applier = Applier(instrument=instrument, trade_number=state.trades, records=book.records)
            applier.preload(events, results)
            applier.apply_all(events, results)
        if sweep_at is not None and len(events) < limit:
            applier.expire(book.engine.expire(sweep_at), closing=sweep_at >= instrument.window_start)
        if events:
            batch = match_batch_name(instrument_id=instrument_id, first_seq=events[0]["seq"],
                                     last_seq=events[-1]["seq"])  # fmt: skip
            state.matched_seq = events[-1]["seq"]
        else:
            batch = f"sweep:{instrument_id}:{state.matched_seq}"
        state.trades = applier.trade_number
        state.updated_at = timezone.now()
        meanwhile = None
        if len(events) == limit:  # likely more: read the next batch now, apply it while this one's writes run
            following = _Read(book, instrument, after_seq=state.matched_seq, limit=limit)
            meanwhile = _apply_ahead(book, following, instrument, applier.trade_number)
        # the state as one plain UPDATE (save() compiles one, which costs more than a small batch)
        state_row = (MatchState, ["matched_seq", "trades", "updated_at"],
                     [(state.pk, state.matched_seq, state.trades, state.updated_at)])  # fmt: skip
        applier.flush(batch=batch, then=state_row, meanwhile=meanwhile)
    book.matched_seq = state.matched_seq
    if events or applier.dirty:  # committed: open pages may fetch it now
        changes_publish(instrument_id=instrument_id, code=instrument.code, seq=state.matched_seq,
                        organisation_ids=applier.organisations_changed())  # fmt: skip
    book.spent = (events, results, applier) if book.ahead is not None else None
    return len(events)


def instrument_match(*, instrument_id: int, limit: int | None = None, sweep_at: datetime | None = None) -> int:
    """Match every accepted, unmatched event of the instrument, ``limit`` per transaction
    (``MATCHING_BATCH``); with ``sweep_at``, then expire what is dead at that time. Returns the
    number of events matched."""
    limit = limit or settings.MATCHING_BATCH
    total = 0
    try:
        # the collector off for the whole run: a batch leaves no cycles (none found in a run of
        # 20,000 events), and each collection traversed what is alive, the next batch applied
        # ahead included (10 ms a batch of 5,000 events); back on once the run is done
        with no_cyclic_gc():
            while True:
                done = _batch(instrument_id, limit=limit, sweep_at=sweep_at)
                total += done
                if done < limit:
                    return total
    except BaseException:
        _books.pop(instrument_id, None)  # memory may be ahead of the database: rebuild next time
        raise


def instrument_sweep(*, instrument_id: int, now: datetime | None = None) -> int:
    """Expire resting orders past their GTD time, or all of them once the window has opened.

    Every event stamped before the sweep's time must be matched before it, and none may come
    after it stamped earlier: acceptance stamps its time on the locked instrument row, so taking
    that lock here waits for any acceptance in flight, and moving the row's clock to the sweep's
    time makes every later event carry that time or a later one."""
    with transaction.atomic(durable=True):
        instrument = instrument_lock(pk=instrument_id)
        if now is not None and (instrument.clock is None or now > instrument.clock):
            instrument.clock = now
        cutoff = instrument_tick(instrument)
        instrument.save(update_fields=["clock"])
    return instrument_match(instrument_id=instrument_id, sweep_at=cutoff)


def instruments_with_backlog() -> list[int]:
    """Instruments with accepted events not yet matched (a lost or killed task leaves these)."""
    return sorted(MatchState.objects.filter(matched_seq__lt=F("instrument__last_seq")).values_list("pk", flat=True))


def instruments_due_for_sweep(*, now: datetime) -> list[int]:
    """Instruments with live orders that time has ended: GTD past expiry, or the window open."""
    ended = Q(expire_at__lte=now) | Q(instrument__window_start__lte=now)
    live = Order.objects.exclude(status__in=FINAL_STATUSES).filter(ended)
    return sorted(set(live.values_list("instrument_id", flat=True)))
