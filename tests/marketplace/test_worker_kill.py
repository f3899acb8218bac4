"""A matching worker killed (SIGKILL) in the middle of a stream loses nothing and repeats nothing:
a restarted worker continues from the database, and the stored trades equal a clean replay of the
exported log. Real PostgreSQL, Redis and Celery worker processes."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from marketplace.models import MatchState, Order, OrderStatus
from settlement.selectors import ledger_check_run
from tests.marketplace.test_log_replay import random_stream, replay, stored_trades

ROOT = Path(__file__).resolve().parents[2]


def start_worker(tmp_path, name):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "MATCHING_BATCH": "2",  # many small commits: the kill lands between two of them
    }
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(  # noqa: S603 (our own worker, fixed arguments)
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", "matching-0,matching-1",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"{name}@%h", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return process, log


def matched(instrument_id) -> int:
    return MatchState.objects.get(pk=instrument_id).matched_seq


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_loses_nothing_and_duplicates_nothing(market, tmp_path):
    from config.celery import app

    app.control.purge()
    instrument = market["instrument"]
    # accepted with no worker running: every order waits in the log (and its task in Redis)
    random_stream(market, 150, seed=11, match=False)
    instrument.refresh_from_db()
    last = instrument.last_seq
    assert matched(instrument.pk) == 1 and last > 50

    worker, log = start_worker(tmp_path, "first")
    try:
        assert wait_for(lambda: matched(instrument.pk) > 15, 60), (tmp_path / "first.log").read_text()[-3000:]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        log.close()
    killed_at = matched(instrument.pk)
    assert killed_at < last, "the worker finished before it was killed: nothing was tested"
    assert ledger_check_run(store=False)["ok"]  # what was committed before the kill is whole

    started = time.monotonic()
    worker, log = start_worker(tmp_path, "second")
    try:
        assert wait_for(lambda: matched(instrument.pk) > killed_at, 30), (tmp_path / "second.log").read_text()[-3000:]
        resumed_after = time.monotonic() - started
        assert wait_for(lambda: matched(instrument.pk) == last, 120)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
        log.close()
    print(f"matching again {resumed_after:.2f} s after the restart")  # noqa: T201

    assert not Order.objects.filter(status=OrderStatus.PENDING).exists()
    for order in Order.objects.all():
        assert order.status in (OrderStatus.OPEN, OrderStatus.FILLED, OrderStatus.CANCELLED), order
    out = io.StringIO()
    call_command("export_order_log", instrument.code, stdout=out)
    log_path = tmp_path / "log.jsonl"
    log_path.write_text(out.getvalue())
    assert stored_trades(instrument) == replay(log_path)
    assert ledger_check_run(store=False)["ok"]
    assert [e["seq"] for e in map(json.loads, out.getvalue().splitlines())] == list(range(1, last + 1))
