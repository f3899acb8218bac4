"""The Celery application: configured from Django settings (CELERY_*)."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("suanli")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def database_connections_kept(sender=None, **kwargs) -> None:
    """Around each task, what Django does around each request: close a database connection only
    if it is broken or older than CONN_MAX_AGE. Celery's own Django fix-up closes every
    connection before and after every task unless CELERY_DB_REUSE_MAX is set (it is, in
    settings): under load the matching worker runs a task every few tens of milliseconds per instrument, and a new
    connection each time cost a PostgreSQL backend's start (fork, authentication, its caches read
    again) and Django's connection set-up, more than the run of a few orders it served."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # an eager task runs inside its caller's transaction
    from django.db import close_old_connections

    close_old_connections()
