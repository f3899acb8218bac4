"""Benchmark: the pure rating engine's per-volume path (trading standard §6.2, §7) on 1,000,000
usage records of one product in one billing period.

Workloads, generated untimed from a seed:

- ``whole``: records of 1 to 8 units, so quantity = units × length in seconds (how a meter that
  counts busy units reports): a cut record's shares are whole unit-seconds;
- ``awkward``: the same records with a random quantity, so every cut record's shares are fractions
  with their own denominators (the slow case for exact arithmetic);
- ``typed``: the ``whole`` records as ``UsageRecord`` values (aware datetimes, Decimal quantities)
  through ``volume_lines``, which converts each to integer microseconds.

Starts are spread over the period and the day before it, lengths 1 minute to 4 hours, so about
half the records cross a time-of-use or period boundary (GS has eight a day). Timed: ``VolumeUsage.add_many`` on
the rows and ``.lines()`` (slicing, tiers, lines), wall time, median of ``--rounds``.
Writes the "Rating engine" section of docs/performance.md unless ``--no-write``.

Usage: .venv/bin/python bench/rating.py [--records 1000000] [--rounds 3] [--no-write]
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.djangobench import machine, measured, write_section  # noqa: E402
from settlement.rating import (  # noqa: E402
    PER_VOLUME,
    Product,
    UsageRecord,
    VolumeUsage,
    period_parse,
    tariff_make,
    volume_lines,
)

SECOND = 1_000_000
PERIOD = period_parse("2026-12")
KINDS = {"v": "valley", "f": "flat", "p": "peak"}
TARIFF = tariff_make(tou_by_local_hour=[KINDS[c] for c in "vvvvvvvfpppvvvvvfppppffv"])  # GS
PRODUCT = Product("A100-80G.GS.REMOTE.retail.volume", PER_VOLUME, Decimal("6.30"))


def rows_make(n: int, seed: int, *, awkward: bool) -> list[tuple[int, int, int]]:
    rng = random.Random(seed)
    start_us, end_us = PERIOD.bounds_us()
    first = start_us - 86_400 * SECOND
    rows = []
    for _ in range(n):
        length = rng.randint(60, 4 * 3600)
        start = first + rng.randrange((end_us - first) // SECOND) * SECOND
        quantity = rng.randint(1, 8 * length) if awkward else rng.randint(1, 8) * length
        rows.append((start, start + length * SECOND, quantity))
    return rows


def crosses(start: int, end: int, _quantity) -> bool:
    """Whether a record is cut: it spans more than one time-of-use block, or a period bound."""
    usage = VolumeUsage(tariff=TARIFF, period=PERIOD)
    usage.add(start, end, end - start)
    period_start, period_end = PERIOD.bounds_us()
    return len(usage.blocks()) > 1 or start < period_start < end or start < period_end < end


def rate_rows(rows):
    usage = VolumeUsage(tariff=TARIFF, period=PERIOD)
    usage.add_many(rows)
    return usage.lines(product=PRODUCT)


def rate_typed(records):
    return volume_lines(product=PRODUCT, records=records, tariff=TARIFF, period=PERIOD)


def timed(runner, data):
    wall, cpu = time.perf_counter(), time.process_time()
    lines = runner(data)
    return time.perf_counter() - wall, time.process_time() - cpu, lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    whole = rows_make(args.records, args.seed, awkward=False)
    awkward = rows_make(args.records, args.seed, awkward=True)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    at = [(epoch + timedelta(microseconds=s), epoch + timedelta(microseconds=e)) for s, e, _ in whole]
    typed = [UsageRecord(f"r{i}", "gpu_seconds", Decimal(row[2]), *at[i]) for i, row in enumerate(whole)]
    sample = whole[:20_000]
    cut = sum(crosses(*row) for row in sample) * len(whole) // len(sample)
    runs = {"whole": (rate_rows, whole), "awkward": (rate_rows, awkward), "typed": (rate_typed, typed)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    results = {}
    for _ in range(args.rounds):
        for name, (runner, data) in runs.items():
            seconds, cpu_seconds, lines = timed(runner, data)
            times[name].append(seconds)
            cpu[name].append(cpu_seconds)
            results[name] = lines
    load = os.getloadavg()[0]
    if results["whole"] != results["typed"]:
        sys.exit("the typed path rated the same records differently")

    labels = {
        "whole": "`VolumeUsage.add_many` + `.lines`, quantity = units × seconds",
        "awkward": "`VolumeUsage.add_many` + `.lines`, random quantities (fractional shares)",
        "typed": "`volume_lines` on `UsageRecord`s (datetimes, Decimal)",
    }
    table = [
        "| path | records/s (wall) | wall s (median) | range, s | CPU s | records/s (CPU) | lines | subtotal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in runs:
        median, cpu_median = statistics.median(times[name]), statistics.median(cpu[name])
        subtotal = sum(line.amount for line in results[name])
        table.append(
            f"| {labels[name]} | {args.records / median:,.0f} | {median:.2f} | "
            f"{min(times[name]):.2f}–{max(times[name]):.2f} | {cpu_median:.2f} | {args.records / cpu_median:,.0f} | "
            f"{len(results[name])} | {subtotal:,} |"
        )
        print(table[-1])
    lines = [
        f"Measured {measured()} on {machine()}; one process; {args.records:,} usage records "
        f"of one product (seed {args.seed}) starting over December 2026 and the day before, 1 minute to 4 hours "
        f"long (about {cut:,} cross a time-of-use or period boundary); median of {args.rounds} rounds. "
        f"Load average {load:.1f} at the end of the run: on a shared machine, wall time exceeds CPU time.",
        "",
        *table,
        "",
        "Timed: slicing, the tier walk and the lines; not reading the records (the invoice code's query). "
        "The invoice target is 1,000,000 records rated in at most 5 s.",
        "",
        f"Reproduce: `.venv/bin/python bench/rating.py --records {args.records}`",
    ]
    if not args.no_write:
        write_section("## Rating engine (bench/rating.py)", lines)


if __name__ == "__main__":
    main()
