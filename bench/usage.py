"""Benchmark: usage ingestion (trading standard §6.2) on PostgreSQL, durable, in batches of 1,000.

Every batch is one durable transaction (fsync and synchronous_commit as the server has them) of
records for one contract delivered from one pool; a tenth of each batch repeats records already
stored (machines resend after a timeout), and they must come back ``duplicate``. Two ways:

1. the service (``usage_ingest``, what POST /api/v1/usage/ calls), in this process;
2. over HTTP: POST /api/v1/usage/ with the pool's machine key to gunicorn (config.wsgi, 2 sync
   workers) on loopback, ``CLIENTS`` clients in a closed loop (this process, http.client).

Usage: .venv/bin/python bench/usage.py [RECORDS] [--clients 4]
Database suanli_bench_usage (dropped and recreated).
"""

import argparse
import os
import random
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/suanli_bench_usage")
os.environ["MATCHING_DISPATCH"] = "false"
from djangobench import django_setup, durability, ensure_database, machine, measured, rate, write_section  # noqa: E402

django_setup("suanli_bench_usage")

import loadgen  # noqa: E402

BATCH = 1000
REPEATS = 100  # of each batch: records already stored, sent again
UNITS = 1000


def delivered_contract():
    """One contract of 1,000 H100 from seller s0's pool to buyer b0, its week running for two days."""
    from django.utils import timezone

    from catalog.models import Pool
    from catalog.services import pool_key_create
    from marketplace.models import Contract, Instrument
    from marketplace.services import OrderTerms, instrument_match, order_place, upcoming_windows
    from marketplace.services.instruments import instrument_code

    day = next(d for d, k in upcoming_windows(now=timezone.now() + timedelta(days=7)) if k == "W")
    code = instrument_code(resource_class="H100-80G", region="YRD", tier="MAIN", day=day, kind="W")
    market = loadgen.market_setup([code])
    (instrument,) = market.instruments
    for label, side in (("s0", "sell"), ("b0", "buy")):
        user, org = market.actors[label]
        terms = OrderTerms(instrument=code, side=side, type="limit", qty=UNITS, tif="GTC",
                           price=instrument.reference_price)  # fmt: skip
        order_place(actor=user, organisation=org, terms=terms, idempotency_key=f"bench-{label}")
    instrument_match(instrument_id=instrument.pk)
    contract = Contract.objects.get()
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    Instrument.objects.filter(pk=instrument.pk).update(window_start=start, window_end=start + timedelta(days=7))
    user, org = market.actors["s0"]
    pool = Pool.objects.get(provider=org)
    _, key = pool_key_create(actor=user, organisation=org, pool_id=pool.pk, name="meter")
    return pool, contract, start, key


def batches(n_new: int, tag: str, contract, start, seed: int = 7) -> list[list[dict]]:
    """Batches of 1,000: 900 new one-minute records and 100 repeats of earlier ones (the first
    batch has no repeats: all 1,000 new)."""
    rng = random.Random(seed)
    sent: list[dict] = []
    out = []
    while len(sent) < n_new:
        repeats = rng.sample(sent, REPEATS) if sent else []
        fresh = []
        for _ in range(BATCH - len(repeats)):
            minute = rng.randrange(2 * 24 * 60 - 10)
            fresh.append({
                "record_id": f"{tag}-{len(sent) + len(fresh)}", "contract": contract.pk, "meter": "gpu_seconds",
                "quantity": str(Decimal(rng.randrange(0, UNITS * 60 * 1000)) / 1000),
                "start": (start + timedelta(minutes=minute)).isoformat(),
                "end": (start + timedelta(minutes=minute + 1)).isoformat(),
            })  # fmt: skip
        sent += fresh
        batch = fresh + repeats
        rng.shuffle(batch)
        out.append(batch)
    return out


def tally(results_per_batch) -> tuple[int, int, int]:
    accepted = duplicates = rejected = 0
    for results in results_per_batch:
        for status in results:
            accepted += status == "accepted"
            duplicates += status == "duplicate"
            rejected += status == "rejected"
    return accepted, duplicates, rejected


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", type=int, nargs="?", default=200_000, help="new records per phase")
    parser.add_argument("--clients", type=int, default=4, help="closed-loop HTTP clients")
    args = parser.parse_args()

    from django.db import connections

    from settlement.models import UsageRecord
    from settlement.services import usage_ingest

    ensure_database()
    fsync, sync_commit = durability()
    pool, contract, start, key = delivered_contract()
    print(f"usage ingestion on PostgreSQL (fsync={fsync}, synchronous_commit={sync_commit}); {machine()}")

    service = batches(args.records, "svc", contract, start)
    sent = sum(map(len, service))
    t0 = time.perf_counter()
    service_results = [[r.status for r in usage_ingest(pool=pool, records=b)] for b in service]
    service_s = time.perf_counter() - t0
    s_acc, s_dup, s_rej = tally(service_results)
    print(f"service: {sent:,} records ({s_acc:,} accepted, {s_dup:,} duplicates, {s_rej} refused) in "
          f"{service_s:.2f} s = {rate(sent, service_s):,.0f} records/s")  # fmt: skip
    assert UsageRecord.objects.count() == s_acc == sent - REPEATS * (len(service) - 1) and s_rej == 0

    http = batches(args.records, "http", contract, start, seed=8)
    connections.close_all()
    load = loadgen.load_average()
    with loadgen.web_server(loadgen.service_env()) as port:
        local = threading.local()  # one connection per client thread

        def send(i):
            if not hasattr(local, "client"):
                local.client = loadgen.Client(port, key)
            return local.client.request("POST", "/api/v1/usage/", {"records": http[i]})

        samples, http_s = loadgen.closed_loop(args.clients, len(http), send)
    failed = [s for s in samples if s.status != 200]
    h_acc, h_dup, h_rej = tally([[r["status"] for r in s.body["results"]] for s in samples if s.status == 200])
    http_sent = sum(map(len, http))
    latencies = [s.done - s.sent for s in samples]
    print(f"HTTP: {http_sent:,} records ({h_acc:,} accepted, {h_dup:,} duplicates, {h_rej} refused, "
          f"{len(failed)} failed requests) in {http_s:.2f} s = {rate(http_sent, http_s):,.0f} records/s")  # fmt: skip
    assert not failed and h_rej == 0 and h_acc == http_sent - REPEATS * (len(http) - 1)

    write_section(
        "## Usage ingestion (bench/usage.py)",
        [
            f"Measured {measured()} on {machine()}; PostgreSQL with fsync={fsync}, "
            f"synchronous_commit={sync_commit}; code {loadgen.product_revision()}.",
            "",
            "| what | records/s | workload |",
            "|---|---|---|",
            f"| `usage_ingest`, in process | {rate(sent, service_s):,.0f} | {sent:,} records in batches of "
            f"{BATCH:,} ({s_acc:,} new, {s_dup:,} repeats answered `duplicate`), one durable transaction a "
            f"batch, {service_s:.2f} s |",
            f"| POST /api/v1/usage/ over HTTP | {rate(http_sent, http_s):,.0f} | {http_sent:,} records, same mix "
            f"({h_acc:,} new, {h_dup:,} repeats); gunicorn 2 sync workers, {args.clients} clients closed loop; "
            f"request p50 {loadgen.percentile(latencies, 50) * 1000:.0f} ms, p99 "
            f"{loadgen.percentile(latencies, 99) * 1000:.0f} ms; load avg before {load} |",
            "",
            "Target (issue 5): ≥ 20,000 records/s accepted durably in batches of 1,000, duplicates "
            "included. What a batch costs: validating each record in Python (its shape, the "
            "contract's pool, meter, window and units, looked up once per batch), then one "
            "`INSERT … SELECT FROM unnest(…) ON CONFLICT (provider, record_id) DO NOTHING RETURNING` "
            "and, for the ids that were not new, one `SELECT` to tell repeats from conflicts, and "
            "one commit (fsync). Over HTTP, parsing the JSON body (numbers as exact decimals) and "
            "writing the per-record answer are added.",
            "",
            "Reproduce: `.venv/bin/python bench/usage.py 200000` (database suanli_bench_usage).",
        ],
    )


if __name__ == "__main__":
    loadgen.main_guard(main)
