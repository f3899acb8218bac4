"""Row locks for the exchange: evaluated at once, held briefly. Order entry and cancels lock the
instrument row first (it hands out sequence numbers), then what they hold.

Instrument and order rows are locked FOR NO KEY UPDATE: entry changes their counters, never their
keys, and a plain FOR UPDATE would conflict with the KEY SHARE lock PostgreSQL takes on them when
the matching worker commits rows referring to them — a deadlock whenever entry then waits for an
account the worker holds."""

from marketplace.models import Contract, Instrument, MatchState, Order


def instrument_lock(*, pk: int) -> Instrument | None:
    return Instrument.objects.select_for_update(of=("self",), no_key=True).filter(pk=pk).first()


def order_lock(*, order_id: int, organisation=None) -> Order | None:
    qs = Order.objects.select_for_update(of=("self",), no_key=True).select_related("instrument")
    if organisation is not None:
        qs = qs.for_org(organisation)
    return qs.filter(pk=order_id).first()


def contracts_lock(*, holder, instrument) -> list[Contract]:
    return list(
        Contract.objects.select_for_update(of=("self",), no_key=True)
        .filter(holder=holder, instrument=instrument)
        .order_by("pk")
    )


def instruments_lock(*, codes) -> dict[str, Instrument]:
    """Several instruments, in primary-key order."""
    locked = Instrument.objects.select_for_update(of=("self",), no_key=True).filter(code__in=codes).order_by("pk")
    return {i.code: i for i in locked}


def match_state_lock(*, instrument_id: int) -> MatchState:
    return MatchState.objects.select_for_update(of=("self",), no_key=True).get(pk=instrument_id)
