"""A Celery worker keeps its database connection between tasks and closes it as Django closes a
request's: when it is past CONN_MAX_AGE (or broken). Celery's own Django fix-up would close it
around every task, a new PostgreSQL backend for every matching run."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection

from config.celery import app

BACKENDS: list[int] = []


@app.task
def backend_pid_task() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        BACKENDS.append(cursor.fetchone()[0])


def _backends_of_two_tasks() -> list[int]:
    BACKENDS.clear()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        for expected in (1, 2):
            backend_pid_task.delay()
            deadline = time.monotonic() + 20
            while len(BACKENDS) < expected and time.monotonic() < deadline:
                time.sleep(0.05)
    assert len(BACKENDS) == 2
    return list(BACKENDS)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("max_age", "same_backend"), [(300, True), (0, False)])
def test_a_worker_keeps_its_connection_while_conn_max_age_allows(monkeypatch, max_age, same_backend):
    # the worker's thread opens its own connection with these settings (the same dictionary)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", max_age)
    first, second = _backends_of_two_tasks()
    assert (first == second) is same_backend
