from celery import shared_task
from django.utils import timezone

from marketplace.services import instrument_match, instrument_sweep, instruments_due_for_sweep, instruments_list
from marketplace.services.dispatch import matching_queue


@shared_task(acks_late=True, reject_on_worker_lost=True)
def instrument_match_task(instrument_id: int) -> int:
    """Drain an instrument's accepted events (idempotent: continues from the committed seq)."""
    return instrument_match(instrument_id=instrument_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def instrument_sweep_task(instrument_id: int) -> int:
    return instrument_sweep(instrument_id=instrument_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def instruments_sweep_task() -> list[int]:
    """Periodic: expire GTD orders past their time and close instruments whose window opened, each
    on its instrument's matching queue."""
    due = instruments_due_for_sweep(now=timezone.now())
    for instrument_id in due:
        instrument_sweep_task.apply_async(args=[instrument_id], queue=matching_queue(instrument_id))
    return due


@shared_task(acks_late=True, reject_on_worker_lost=True)
def instruments_list_task() -> list[str]:
    """Periodic: list the upcoming windows of every product with connected capacity."""
    return instruments_list()
