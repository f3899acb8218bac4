"""The machine a benchmark ran on: in words, and as two gauges that compare machines.

Sessions run on different guests (Intel Xeon, AMD EPYC), and for this project's work they have
differed by up to two and a half times in speed, more than most of the changes being measured.
So every benchmark prints, beside its figures, how long this machine takes for a fixed amount of
work: ``python_gauge`` a pure-Python loop that stays in cache (the interpreter), ``memory_gauge``
random probes of a dict of a million keys (what the engine's table of order ids does: on
2026-11-28's guest a probe took 0.55-0.68 µs, several times a usual machine's, while its loop
was only somewhat slow), and ``postgres_gauge`` a query the server computes alone (its executor).
Two figures from different machines compare only roughly even with their gauges: a benchmark
mixes these costs in its own proportions."""

import os
import platform
import random
import time
from datetime import UTC, datetime
from pathlib import Path

GAUGE_LOOPS = 3_000_000
GAUGE_KEYS = 1_000_000
GAUGE_QUERY = "SELECT count(*) FROM generate_series(1, 2000000) AS g WHERE g % 7 = 3"


def cpu_model() -> str:
    try:
        return next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        return ""


def python_gauge() -> float:
    """Seconds for ``GAUGE_LOOPS`` iterations of a plain loop, best of three (lower is faster)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(GAUGE_LOOPS):
            total += i & 7
        best = min(best, time.perf_counter() - start)
    return best


def memory_gauge() -> float:
    """Seconds for ``GAUGE_KEYS`` probes, in random order, of a dict of as many string keys, best
    of three (lower is faster)."""
    keys = [f"o{i}" for i in range(GAUGE_KEYS)]
    table = dict.fromkeys(keys)
    random.Random(42).shuffle(keys)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for key in keys:
            table[key]  # noqa: B018 (the probe is the work)
        best = min(best, time.perf_counter() - start)
    return best


def postgres_gauge(cursor) -> float:
    """Seconds the server takes for ``GAUGE_QUERY`` (counted on the server, without the round
    trip), best of three, on a DB-API cursor."""
    best = float("inf")
    for _ in range(3):
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON, TIMING OFF) " + GAUGE_QUERY)
        plan = cursor.fetchone()[0]
        plan = plan[0] if isinstance(plan, list) else plan
        best = min(best, plan["Execution Time"] / 1000)
    return best


def measured() -> str:
    """When, in UTC, as every benchmark heads its figures (the notes beside them give UTC times;
    Django's setup moves a process's local zone to the exchange's, a day ahead in the evening)."""
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def machine() -> str:
    """The architecture, CPU model, cores, Python, and the Python and memory gauges."""
    return (
        f"{platform.machine()} {cpu_model()}".strip() + f", {os.cpu_count()} cores, "
        f"Python {platform.python_version()} ({platform.python_implementation()}); gauges (best of 3, lower is "
        f"faster): Python loop {python_gauge():.2f} s ({GAUGE_LOOPS:,} iterations), memory {memory_gauge():.2f} s "
        f"({GAUGE_KEYS:,} random dict probes)"
    )
