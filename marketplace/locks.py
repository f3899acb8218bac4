"""Row locks for the exchange: evaluated at once, held briefly. Order entry and cancels lock the
instrument row first (it hands out sequence numbers), then what they hold."""

from marketplace.models import Contract, Instrument, MatchState, Order


def instrument_lock(*, code: str | None = None, pk: int | None = None) -> Instrument | None:
    qs = Instrument.objects.select_for_update(of=("self",))
    return (qs.filter(code=code) if code is not None else qs.filter(pk=pk)).first()


def order_lock(*, order_id: int, organisation=None) -> Order | None:
    qs = Order.objects.select_for_update(of=("self",)).select_related("instrument")
    if organisation is not None:
        qs = qs.for_org(organisation)
    return qs.filter(pk=order_id).first()


def contracts_lock(*, holder, instrument) -> list[Contract]:
    return list(
        Contract.objects.select_for_update(of=("self",)).filter(holder=holder, instrument=instrument).order_by("pk")
    )


def match_state_lock(*, instrument_id: int) -> MatchState:
    return MatchState.objects.select_for_update(of=("self",)).get(pk=instrument_id)
