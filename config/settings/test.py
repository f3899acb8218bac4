"""The test suite: PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set, SQLite otherwise."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_TASK_ALWAYS_EAGER = False
# Threads in the race tests open connections of their own; closed at their end, so the test
# database can be dropped.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

if REDIS_URL:  # noqa: F405
    # The suite clears its cache between tests: give it a database of its own (15), so a
    # developer's REDIS_URL cache is never flushed by a test run.
    from urllib.parse import urlsplit, urlunsplit

    CACHES["default"]["LOCATION"] = urlunsplit(urlsplit(REDIS_URL)._replace(path="/15"))  # noqa: F405
    # Tasks sent by tests (matching after an order commits) go to a broker database of their own
    # too, so a developer's worker on REDIS_URL never receives them, nor the tests its tasks.
    CELERY_BROKER_URL = urlunsplit(urlsplit(REDIS_URL)._replace(path="/14"))  # noqa: F405
