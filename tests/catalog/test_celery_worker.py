"""The periodic suspension runs in a real Celery worker over Redis."""

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from catalog.models import Pool, PoolStatus
from catalog.services import heartbeat_record, pool_apply, pool_key_create, pool_verify
from catalog.tasks import pools_suspend_silent_task
from config.celery import app
from tests.conftest import descriptor


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_suspends_a_silent_pool(provider, operator):
    user, org = provider
    pool = pool_apply(actor=user, organisation=org, descriptor=descriptor())
    pool_verify(actor=operator, pool_id=pool.pk)
    key, _ = pool_key_create(actor=user, organisation=org, pool_id=pool.pk, name="k")
    heartbeat_record(pool_key=key, pool_id=pool.pk, ts=timezone.now(), available={}, health="ok")
    # 16 minutes pass without a heartbeat
    Pool.objects.filter(pk=pool.pk).update(last_heartbeat_at=timezone.now() - timedelta(minutes=16))

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        pools_suspend_silent_task.delay()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and Pool.objects.get(pk=pool.pk).status != PoolStatus.SUSPENDED:
            time.sleep(0.1)
    pool.refresh_from_db()
    assert pool.status == PoolStatus.SUSPENDED
    assert pool.transitions.filter(reason_code="heartbeat_timeout").count() == 1


def test_every_scheduled_task_exists():
    from django.conf import settings

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, entry
