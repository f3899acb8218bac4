"""Retry a whole money transaction when PostgreSQL reports a serialization failure or deadlock."""

import functools
import random
import time

from django.db import OperationalError, transaction

RETRYABLE = {"40001", "40P01"}  # serialization_failure, deadlock_detected
ATTEMPTS = 5


def retry_on_serialization_failure(func):
    """Only the outermost transaction can be retried: inside a caller's atomic block the failure
    is the caller's to retry, so the function runs once."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if transaction.get_connection().in_atomic_block:
            return func(*args, **kwargs)
        for attempt in range(ATTEMPTS):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                code = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
                if code not in RETRYABLE or attempt == ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 (jitter, not security)
        raise AssertionError("unreachable")

    return wrapper
