"""Waking the matching worker: one task while a wake-up is on its way (Redis), one per accepted
order without Redis; a woken run reads everything accepted before it cleared the flag."""

import pytest
from django.test import override_settings

from config.errors import ExchangeError
from marketplace.models import MatchState
from marketplace.services import instrument_match
from marketplace.services.dispatch import matching_queue, matching_woken
from marketplace.tasks import instrument_match_task
from tests.marketplace.test_orders import place


@pytest.fixture
def sent(monkeypatch):
    """The tasks handed to the broker (the boundary), as (args, queue)."""
    calls = []
    monkeypatch.setattr(
        instrument_match_task, "apply_async", lambda args, queue: calls.append((tuple(args), queue)), raising=True
    )
    return calls


LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@override_settings(CACHES=LOCAL_CACHE)  # without Redis even when the run has it
@pytest.mark.django_db(transaction=True)
def test_without_redis_every_accepted_order_sends_a_task_after_commit(market, sent):
    instrument = market["instrument"]
    place(market, "gridco", "sell", 8, "12.00")
    place(market, "acme", "buy", 8, "12.00")
    assert sent == [((instrument.pk,), matching_queue(instrument.pk))] * 2


@pytest.mark.django_db(transaction=True)
def test_a_refused_order_sends_nothing(market, sent):
    with pytest.raises(ExchangeError) as refused:
        place(market, "gridco", "sell", 8000, "12.00")
    assert refused.value.code == "insufficient_capacity"
    assert sent == []


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_while_a_wake_up_is_on_its_way_orders_send_nothing_and_its_run_reads_them(market, sent):
    instrument = market["instrument"]
    place(market, "gridco", "sell", 8, "12.00")
    place(market, "acme", "buy", 8, "12.00")
    place(market, "bolt", "buy", 8, "12.00")
    assert len(sent) == 1  # the first set the flag; the others found it up
    with override_settings(MATCHING_INTERVAL_MS=0):
        matching_woken(instrument_id=instrument.pk)  # what the task does before it reads the log
    place(market, "gridco", "sell", 8, "12.00")  # after the flag was cleared: a wake-up of its own
    assert len(sent) == 2
    assert instrument_match(instrument_id=instrument.pk) == 4
    instrument.refresh_from_db()
    assert MatchState.objects.get(pk=instrument.pk).matched_seq == instrument.last_seq


def test_a_worker_starts_an_instrument_at_most_once_per_interval(monkeypatch):
    from marketplace.services import dispatch

    slept = []
    monkeypatch.setattr(dispatch.time, "sleep", slept.append)  # the clock: a boundary
    with override_settings(MATCHING_INTERVAL_MS=50):
        matching_woken(instrument_id=990001)  # the first run of an instrument here: at once
        matching_woken(instrument_id=990001)  # right after: waits for the rest of the 50 ms
        matching_woken(instrument_id=990002)  # another instrument: at once
    assert len(slept) == 1 and 0.04 < slept[0] <= 0.05
    with override_settings(MATCHING_INTERVAL_MS=0):
        matching_woken(instrument_id=990001)
    assert len(slept) == 1
