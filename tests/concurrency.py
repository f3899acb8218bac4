"""Run one operation from many threads at once (each with its own database connection)."""

import threading

from django.db import close_old_connections

from config.errors import ExchangeError


def race(n: int, operation) -> list[str]:
    """Start ``operation(i)`` for i in range(n) together; each outcome is "ok" or the refusal's
    reason code."""
    barrier = threading.Barrier(n)
    outcomes = []

    def run(i):
        barrier.wait()
        try:
            operation(i)
            outcomes.append("ok")
        except ExchangeError as exc:
            outcomes.append(exc.code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
