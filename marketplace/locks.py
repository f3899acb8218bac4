"""Row locks for the exchange: evaluated at once, held briefly. The instrument row hands out
sequence numbers and is held until the commit (orders commit in sequence order), so every order
of the instrument queues on it: order entry locks everything else it needs first (contracts, pools,
accounts) and the instrument last, and waits for nothing once it holds it. A cancel locks the
instrument, then the order row.

Instrument and order rows are locked FOR NO KEY UPDATE: entry changes their counters, never their
keys, and a plain FOR UPDATE would conflict with the KEY SHARE lock PostgreSQL takes on them when
the matching worker commits rows referring to them — a deadlock whenever entry then waits for an
account the worker holds."""

from datetime import datetime

from django.db import connections, router

from config.rows import joined_fetch, select_models
from marketplace.models import Contract, Instrument, MatchState, Order


def instrument_lock(*, pk: int) -> Instrument | None:
    return Instrument.objects.select_for_update(of=("self",), no_key=True).filter(pk=pk).first()


def instrument_advance(*, instrument: Instrument, events: int, now: datetime) -> tuple[int, datetime]:
    """Lock the instrument row and hand out its next ``events`` sequence numbers and its time for
    them (``now``, but never before a time already handed out); returns the last number handed out
    and that time. On PostgreSQL one statement (the lock, the numbers and the time together), sent
    after the writes ``config.rows.statements_joined`` holds back, so the instrument is still locked
    last."""
    connection = connections[router.db_for_write(Instrument)]
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Instrument._meta.db_table)
        ((instrument.last_seq, instrument.clock),) = joined_fetch(
            Instrument,
            f"UPDATE {table} SET last_seq = last_seq + %s, clock = GREATEST(clock, %s) "  # noqa: S608
            "WHERE id = %s RETURNING last_seq, clock",
            [events, now, instrument.pk],
        )
        return instrument.last_seq, instrument.clock
    locked = instrument_lock(pk=instrument.pk)
    locked.last_seq += events
    locked.clock = max(locked.clock, now) if locked.clock is not None else now
    locked.save(update_fields=["last_seq", "clock"])
    instrument.last_seq, instrument.clock = locked.last_seq, locked.clock
    return instrument.last_seq, instrument.clock


def order_lock(*, order_id: int, organisation=None) -> Order | None:
    qs = Order.objects.select_for_update(of=("self",), no_key=True).select_related("instrument")
    if organisation is not None:
        qs = qs.for_org(organisation)
    return qs.filter(pk=order_id).first()


def contracts_lock(*, holder, instrument) -> list[Contract]:
    return select_models(
        Contract, "holder_id = %s AND instrument_id = %s", [holder.pk, instrument.pk], order_by="id", lock=True
    )


def instruments_lock(*, codes) -> dict[str, Instrument]:
    """Several instruments, in primary-key order."""
    locked = Instrument.objects.select_for_update(of=("self",), no_key=True).filter(code__in=codes).order_by("pk")
    return {i.code: i for i in locked}


def match_state_lock(*, instrument_id: int) -> MatchState:
    """The instrument's match state, locked, with its instrument (read, not locked). On
    PostgreSQL one plain query (a matching run takes this every few tens of milliseconds under
    load, and compiling the ORM's query cost more than running it)."""
    connection = connections[router.db_for_write(MatchState)]
    if connection.vendor != "postgresql":
        return (
            MatchState.objects.select_for_update(of=("self",), no_key=True)
            .select_related("instrument")
            .get(pk=instrument_id)
        )
    parts = [(MatchState, "m"), (Instrument, "i")]
    columns = ", ".join(f'{alias}."{f.column}"' for model, alias in parts for f in model._meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {MatchState._meta.db_table} m "  # noqa: S608
            f"JOIN {Instrument._meta.db_table} i ON i.id = m.instrument_id "
            "WHERE m.instrument_id = %s FOR NO KEY UPDATE OF m",
            [instrument_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise MatchState.DoesNotExist(f"No match state for instrument {instrument_id}.")
    n = len(MatchState._meta.concrete_fields)
    state = MatchState.from_db(connection.alias, [f.attname for f in MatchState._meta.concrete_fields], row[:n])
    instrument = Instrument.from_db(connection.alias, [f.attname for f in Instrument._meta.concrete_fields], row[n:])
    state._state.fields_cache["instrument"] = instrument
    return state
