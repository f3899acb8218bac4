"""Benchmark: matching scale-out — two Celery workers on disjoint instruments against one worker
handling both, on the same pre-accepted backlog.

Two instruments whose ids fall on different matching queues each get ``ORDERS`` accepted orders
(``orders_place_batch`` in this process, 100 per batch, dispatch off, so nothing is matched yet).
That database is the template; each configuration runs on a fresh copy of it:

- one worker: ``celery worker -Q matching-0,matching-1 --concurrency=1``;
- two workers: worker A ``-Q`` the first instrument's queue, worker B the second's (concurrency 1).

The workers' startup hook (``marketplace.tasks._match_backlog_on_start``) enqueues the backlog. Each
worker starts consuming an idle queue; once all are ready, each is told (Celery remote control,
``add_consumer``) to consume its matching queue(s), at the same moment. The time is taken from the
first task a worker received (its log line, read as it is written) until both instruments'
``MatchState.matched_seq`` reach their ``last_seq`` (polled every 5 ms), and, including the
workers' start, from their spawn. The two runs must match the same quantity.

On a shared machine one run can differ from the next by a third, so the configurations run in
``--rounds`` pairs, one worker then two, each pair back to back: each pair's ratio is printed, and
the figure is the median pair's (the pair with the median ratio; with an even count, the lower).

Usage: .venv/bin/python bench/scaleout.py [ORDERS_PER_INSTRUMENT] [--rounds 3]   (default 5,000 orders)
Databases suanli_bench_scale (the template) and suanli_bench_scale_run (each run's copy), Redis db 8.
"""

import argparse
import os
import socket
import sys
import time
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/suanli_bench_scale")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/8")
os.environ["MATCHING_DISPATCH"] = "false"  # entry here sends no task: the backlog waits for the workers
from djangobench import (  # noqa: E402
    copy_database,
    django_setup,
    drop_database,
    durability,
    ensure_database,
    machine,
    measured,
    rate,
    write_section,
)

django_setup("suanli_bench_scale")

import loadgen  # noqa: E402

POLL_S = 0.005
RUN_SUFFIX = "_run"


def run_database_url(name: str) -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{name}"


def session_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(select, seen: dict | None = None) -> float:
    """User + system CPU time so far of the processes ``select(pid, cmdline)`` picks (Linux /proc);
    with ``seen`` (pid -> seconds, kept across calls), processes that have exited since count too."""
    seen = {} if seen is None else seen
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            if not select(int(entry.name), cmd):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            seen[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return sum(seen.values())


def add_consumer(app, queue: str, node: str) -> None:
    """Tell a worker to consume a queue, until it confirms (a broadcast sent before its control
    channel listens is lost)."""
    for _ in range(20):
        if app.control.add_consumer(queue, destination=[node], reply=True, timeout=1.0):
            return
    raise RuntimeError(f"{node} did not confirm consuming {queue}")


def pick_instruments(market):
    """Two instruments on different matching queues (ids modulo MATCHING_QUEUES)."""
    from django.conf import settings

    first = market.instruments[0]
    other = next(
        i for i in market.instruments[1:] if i.pk % settings.MATCHING_QUEUES != first.pk % settings.MATCHING_QUEUES
    )
    return first, other


def enter_backlog(market, instrument, n: int, seed: int) -> tuple[int, int]:
    from marketplace.services import OrderTerms, orders_place_batch

    accepted = refused = 0
    for number, (label, bodies) in enumerate(loadgen.order_stream(n, seed, instrument, block=100)):
        user, organisation = market.actors[label]
        terms = [OrderTerms(**{**b, "price": Decimal(b["price"])}) for b in bodies]
        results = orders_place_batch(actor=user, organisation=organisation, orders=terms,
                                     idempotency_key=f"backlog-{instrument.pk}-{number}")  # fmt: skip
        accepted += sum(1 for r in results if r.order)
        refused += sum(1 for r in results if r.error)
    return accepted, refused


def run(config: str, instruments, template: str, run_name: str) -> dict:
    """Copy the template, start the workers of ``config``, time until both instruments are
    matched; the workers always end."""
    import psycopg
    import redis
    from django.conf import settings

    from config.celery import app

    copy_database(template, run_name)
    url = run_database_url(run_name)
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # this benchmark's own Redis database
    env = loadgen.service_env(DATABASE_URL=url, MATCHING_DISPATCH="false")
    queues = [f"matching-{i.pk % settings.MATCHING_QUEUES}" for i in instruments]
    workers = [("solo", queues)] if config == "one" else [(f"worker{n}", [q]) for n, q in enumerate(queues)]
    ids = [i.pk for i in instruments]
    with psycopg.connect(url, autocommit=True) as conn:
        last = dict(
            conn.execute("select id, last_seq from marketplace_instrument where id = any(%s)", [ids]).fetchall()
        )
        done_at: dict[int, float] = {}
        spawn = time.time()
        with ExitStack() as stack:
            # each worker starts on an idle queue; once all are ready (the startup hook has queued
            # the backlog by then), each is told to consume its matching queue(s), all at once
            outputs = [stack.enter_context(loadgen.matching_worker(name, [f"bench-idle-{name}"], env))
                       for name, _ in workers]  # fmt: skip
            ready = max(lines.wait_for(" ready.", 120) for _, lines in outputs)

            def workers_cpu():
                return sum(cpu_seconds(lambda pid, _cmd, sid=proc.pid: session_of(pid) == sid) for proc, _ in outputs)

            startup_cpu = workers_cpu()  # importing Django and Celery is not matching
            start = time.time()
            for name, qs in workers:
                for q in qs:
                    add_consumer(app, q, f"{name}@{socket.gethostname()}")
            deadline = time.monotonic() + 600
            sql = "select instrument_id, matched_seq from marketplace_matchstate where instrument_id = any(%s)"
            backends: dict[int, float] = {}

            def backend(_pid, cmd):
                return cmd.startswith("postgres:") and f" {run_name} " in cmd

            polls = 0
            while len(done_at) < len(ids):
                polls += 1
                if polls % 50 == 0:  # backends live as long as a task: sample them while they run
                    cpu_seconds(backend, backends)
                t = time.time()
                for instrument_id, matched in conn.execute(sql, [ids]).fetchall():
                    if matched >= last[instrument_id] and instrument_id not in done_at:
                        done_at[instrument_id] = t
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{config}: not matched within 600 s (see {loadgen.LOG_DIR})")
                time.sleep(POLL_S)
            received = [lines.first("] received") for _, lines in outputs]
            worker_cpu = workers_cpu() - startup_cpu
            db_cpu = cpu_seconds(backend, backends)
        qty = dict(conn.execute("select instrument_id, coalesce(sum(qty), 0) from marketplace_trade "
                                "where instrument_id = any(%s) group by instrument_id", [ids]).fetchall())  # fmt: skip
        trades = conn.execute("select count(*) from marketplace_trade where instrument_id = any(%s)", [ids]).fetchone()[
            0
        ]
    first_task = min(t for t in received if t is not None)
    end = max(done_at.values())
    assert first_task >= start, "a worker matched before it was told to consume"
    events = sum(last[i] for i in ids)
    return {
        "config": config,
        "workers": len(workers),
        "spawn_to_done": end - spawn,
        "task_to_done": end - first_task,
        "first_task_after": [t - start for t in received],
        "cpu_ms_per_1000": (1000 * worker_cpu / events * 1000, 1000 * db_cpu / events * 1000),
        "ready_after": ready - spawn,
        "per_instrument": {i: done_at[i] - first_task for i in ids},
        "qty": qty,
        "trades": trades,
        "events": events,
    }


def print_run(round_number: int, config: str, r: dict) -> None:
    print(f"  round {round_number}, {config} worker(s): matched {r['events']:,} events in {r['task_to_done']:.2f} s "
          f"from the first task ({rate(r['events'], r['task_to_done']):,.0f} events/s; tasks first received "
          f"{', '.join(f'{t * 1000:.0f}' for t in r['first_task_after'])} ms after the go), "
          f"{r['spawn_to_done']:.2f} s from spawn (ready after {r['ready_after']:.1f} s); per instrument "
          f"{', '.join(f'{v:.2f} s' for v in r['per_instrument'].values())}; CPU per 1,000 events: "
          f"worker {r['cpu_ms_per_1000'][0]:.0f} ms, PostgreSQL {r['cpu_ms_per_1000'][1]:.0f} ms; "
          f"{r['trades']:,} trades; load avg {r['load']}", flush=True)  # fmt: skip


def main():
    from django.conf import settings
    from django.db import connections

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("orders", type=int, nargs="?", default=5_000, help="accepted orders per instrument")
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs (one worker, then two)")
    args = parser.parse_args()
    n = args.orders
    ensure_database()
    fsync, sync_commit = durability()
    template = settings.DATABASES["default"]["NAME"]
    run_name = template + RUN_SUFFIX
    market = loadgen.market_setup(loadgen.upcoming_daily_codes(3))
    a, b = pick_instruments(market)
    t = time.perf_counter()
    entered = [enter_backlog(market, inst, n, seed=21 + k) for k, inst in enumerate((a, b))]
    entry_s = time.perf_counter() - t
    accepted = sum(x for x, _ in entered)
    connections.close_all()  # the template may have no session
    revision = loadgen.product_revision()
    print(f"scale-out benchmark on PostgreSQL (fsync={fsync}, synchronous_commit={sync_commit}); {machine()}; "
          f"code {revision}")  # fmt: skip
    print(f"  backlog: {accepted:,} orders accepted ({sum(r for _, r in entered):,} refused) on instruments "
          f"{a.pk} and {b.pk} in {entry_s:.1f} s ({rate(accepted, entry_s):,.0f} orders/s, in-process)")  # fmt: skip
    pairs = []
    try:
        for round_number in range(1, args.rounds + 1):
            results = {}
            for config in ("one", "two"):
                load = loadgen.load_average()
                results[config] = r = run(config, (a, b), template, run_name)
                r["load"] = load
                print_run(round_number, config, r)
            pair = (results["one"]["task_to_done"] / results["two"]["task_to_done"], results["one"], results["two"])
            pairs.append(pair)
            print(f"  round {round_number}: two ÷ one {pair[0]:.2f}×", flush=True)
    finally:
        drop_database(run_name)
    ratios = [pair[0] for pair in pairs]
    speedup, one, two = sorted(pairs, key=lambda pair: pair[0])[(len(pairs) - 1) // 2]
    speedup_spawn = one["spawn_to_done"] / two["spawn_to_done"]
    agree = all(p[1]["qty"] == p[2]["qty"] == one["qty"] for p in pairs)
    cores_one = sum(one["cpu_ms_per_1000"]) / 1e6 * rate(one["events"], one["task_to_done"])
    ceiling = (os.cpu_count() or 1) / cores_one
    every = ", ".join(f"{x:.2f}" for x in ratios)
    print(f"  speed-up two ÷ one: {speedup:.2f}× (from the first task; median of {len(pairs)} pairs: {every}), "
          f"{speedup_spawn:.2f}× (from spawn); matched "
          f"quantity {'agrees' if agree else 'DIFFERS'}: {one['qty']} vs {two['qty']}; one worker keeps "
          f"{cores_one:.2f} cores busy: CPU ceiling {ceiling:.2f}×")  # fmt: skip

    def row(r):
        per = ", ".join(f"{v:.2f} s" for v in r["per_instrument"].values())
        return (f"| {'one worker, both queues' if r['workers'] == 1 else 'two workers, one queue each'} | "
                f"{r['task_to_done']:.2f} s ({rate(r['events'], r['task_to_done']):,.0f} events/s) | "
                f"{r['spawn_to_done']:.2f} s | per instrument {per}; CPU per 1,000 events: worker "
                f"{r['cpu_ms_per_1000'][0]:.0f} ms, PostgreSQL {r['cpu_ms_per_1000'][1]:.0f} ms; "
                f"{r['trades']:,} trades; "
                f"load avg {r['load']} |")  # fmt: skip

    lines = [
        f"Measured {measured()} on {machine()}; PostgreSQL with fsync={fsync}, "
        f"synchronous_commit={sync_commit}; code {revision}. Backlog: {accepted:,} orders accepted on two "
        f"instruments on different queues ({n:,} each, 100 per batch, dispatch off); each configuration "
        f"starts Celery worker(s) (concurrency 1, Redis broker, MATCHING_BATCH={settings.MATCHING_BATCH}) on "
        "its own copy of that database; the startup hook enqueues the backlog, and the workers, once all "
        "are ready, are told to consume their queues at the same moment; timed from the first task received. "
        "Done = both instruments' matched_seq at last_seq (polled every 5 ms). CPU: user + system time of "
        "the worker processes from the moment all were ready (their start-up apart) and of the run "
        f"database's PostgreSQL backends, from /proc. {len(pairs)} pairs, one worker then two, back to back; "
        f"each pair's ratio: {every}×; the table is the median pair's.",
        "",
        "| configuration | from the first task received | from spawn (worker start included) | detail |",
        "|---|---|---|---|",
        row(one),
        row(two),
        f"| **speed-up, two ÷ one** | **{speedup:.2f}×** | {speedup_spawn:.2f}× | matched quantity "
        f"{'agrees' if agree else 'DIFFERS'} ({sum(one['qty'].values()):,} units) |",
        "",
        f"What bounds it: one worker already keeps {cores_one:.2f} cores busy (its own process and its "
        f"PostgreSQL backend, CPU per event × events/s), so on {os.cpu_count()} cores the most two workers "
        f"could gain is {ceiling:.2f}×, before anything else running on the machine takes its share.",
        "",
        f"Reproduce: `.venv/bin/python bench/scaleout.py {n} --rounds {args.rounds}` (databases suanli_bench_scale and "
        "suanli_bench_scale_run, Redis db 8).",
    ]
    write_section("## Matching scale-out: two workers vs one (bench/scaleout.py)", lines)


if __name__ == "__main__":
    loadgen.main_guard(main)
