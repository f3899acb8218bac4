"""Asking a matching worker to drain an instrument: after the accepting transaction commits,
on the instrument's own queue (one of ``MATCHING_QUEUES``), so an instrument's events reach the
same worker in order. The worker also takes a PostgreSQL advisory lock, so two workers never
match one instrument at once even if routing changes."""

from django.conf import settings
from django.db import transaction


def matching_queue(instrument_id: int) -> str:
    return f"matching-{instrument_id % settings.MATCHING_QUEUES}"


def matching_request(*, instrument_id: int) -> None:
    from marketplace.tasks import instrument_match_task

    if not settings.MATCHING_DISPATCH:
        return

    def send():
        instrument_match_task.apply_async(args=[instrument_id], queue=matching_queue(instrument_id))

    transaction.on_commit(send)
