"""Waking a matching worker to drain an instrument: after the accepting transaction commits, on
the instrument's own queue (one of ``MATCHING_QUEUES``), so an instrument's events reach the
same worker in order. The worker also takes a PostgreSQL advisory lock, so two workers never
match one instrument at once even if routing changes.

One wake-up, not one task per order: with the cache on Redis, acceptance sends a task only if it
sets the instrument's wake-up flag (``SET NX``, one round trip); while the flag stands, a task is
on its way and will read this order. The task clears the flag before it reads the log, so an
order committed before the clearing is read by that run, and one committed after finds no flag
and sends a task of its own: nothing accepted is left unmatched. The flag expires after
``WAKE_SECONDS``, so a task lost with a killed worker holds back later wake-ups no longer than
that (the periodic sweep and a starting worker match any backlog too). A worker starts a
run of an instrument at most once per ``MATCHING_INTERVAL_MS``: a run that comes sooner waits,
with the flag still up, and the orders accepted meanwhile join its batch (under load, one run covers many
orders; idle, an order is matched at once). Without Redis (the cache in local memory, which
processes do not share) every acceptance sends a task, as before. A wake-up that cannot be sent
does not fail the accepted order's request: the sweep matches what it left behind.
"""

import time

from django.conf import settings
from django.db import transaction

from config.rediscache import cache_redis

WAKE_SECONDS = 10

_last_run: dict[int, float] = {}  # this worker: instrument id -> when its last run started (monotonic)


def matching_queue(instrument_id: int) -> str:
    return f"matching-{instrument_id % settings.MATCHING_QUEUES}"


def _wake_key(client_cache, instrument_id: int) -> str:
    return client_cache.make_and_validate_key(f"matching:wake:{instrument_id}")


def _wake(instrument_id: int) -> None:
    from django.core.cache import cache

    from marketplace.tasks import instrument_match_task

    client = cache_redis(cache)
    if client is not None and not client.set(_wake_key(cache, instrument_id), 1, nx=True, ex=WAKE_SECONDS):
        return  # a wake-up is on its way and has not read the log yet: it will read this order
    instrument_match_task.apply_async(args=[instrument_id], queue=matching_queue(instrument_id))


def matching_request(*, instrument_id: int) -> None:
    """Have the instrument matched once the current transaction commits. The order is accepted by
    then: a wake-up that fails (Redis or the broker not answering within their timeouts) is
    logged and the request still succeeds; the periodic sweep (every 15 s) matches the backlog."""
    if settings.MATCHING_DISPATCH:
        transaction.on_commit(lambda: _wake(instrument_id), robust=True)


def matching_woken(*, instrument_id: int) -> None:
    """A worker's wake-up task is about to drain the instrument: wait until ``MATCHING_INTERVAL_MS``
    after the start of its last run here (the flag still up, so orders accepted meanwhile send
    nothing and join this run; a run that took longer than the interval is followed at once),
    then clear the flag. Call before reading the log, never after."""
    from django.core.cache import cache

    interval = settings.MATCHING_INTERVAL_MS / 1000
    last = _last_run.get(instrument_id)
    if last is not None and interval > 0:
        wait = last + interval - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, interval))
    _last_run[instrument_id] = time.monotonic()
    client = cache_redis(cache)
    if client is not None:
        client.delete(_wake_key(cache, instrument_id))
