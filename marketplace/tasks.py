from celery import shared_task
from celery.signals import worker_ready
from django.utils import timezone

from marketplace.services import (
    instrument_match,
    instrument_sweep,
    instruments_due_for_sweep,
    instruments_list,
    instruments_with_backlog,
    reservations_complete,
)
from marketplace.services.dispatch import matching_queue, matching_woken


@shared_task(acks_late=True, reject_on_worker_lost=True)
def instrument_match_task(instrument_id: int) -> int:
    """Drain an instrument's accepted events (idempotent: continues from the committed seq): the
    wake-up acceptance sends (see marketplace.services.dispatch)."""
    matching_woken(instrument_id=instrument_id)
    return instrument_match(instrument_id=instrument_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def instrument_sweep_task(instrument_id: int) -> int:
    return instrument_sweep(instrument_id=instrument_id)


def _each_on_its_queue(task, instrument_ids) -> None:
    for instrument_id in instrument_ids:
        task.apply_async(args=[instrument_id], queue=matching_queue(instrument_id))


@shared_task(acks_late=True, reject_on_worker_lost=True)
def instruments_sweep_task() -> dict:
    """Periodic: expire GTD orders past their time, close instruments whose window opened, and
    match any backlog a lost task left behind, each on its instrument's matching queue."""
    due = instruments_due_for_sweep(now=timezone.now())
    backlog = sorted(set(instruments_with_backlog()) - set(due))
    _each_on_its_queue(instrument_sweep_task, due)
    _each_on_its_queue(instrument_match_task, backlog)
    return {"swept": due, "matched": backlog}


@shared_task(acks_late=True, reject_on_worker_lost=True)
def instruments_list_task() -> list[str]:
    """Periodic: list the upcoming windows of every product with connected capacity."""
    return instruments_list()


@worker_ready.connect
def _match_backlog_on_start(sender, **kwargs) -> None:
    """A worker that (re)starts matches what was accepted while none ran: a killed worker's
    unacknowledged task may wait for the broker's visibility timeout, the backlog does not."""
    _each_on_its_queue(instrument_match_task, instruments_with_backlog())


@shared_task(acks_late=True, reject_on_worker_lost=True)
def reservations_complete_task() -> int:
    """Periodic: retail reservations past their end become ``completed`` (idempotent)."""
    return reservations_complete()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def scheduling_round_task() -> int | None:
    """Periodic (every 30 s) and kicked after each submitted demand: one scheduling round over
    every waiting demand (idempotent: a demand is proposed once; one round at a time)."""
    from marketplace.services.scheduling import scheduling_round

    record = scheduling_round()
    return record.pk if record else None
