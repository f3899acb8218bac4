"""Benchmark: order entry over HTTP and accept-to-match latency, end to end on loopback.

The web server is gunicorn (config.wsgi, 4 gthread workers × 2 threads by default), the matching
worker a real Celery worker (``-Q matching-0,matching-1``, concurrency 1) on Redis, the database
PostgreSQL; this process is the load generator (threads on the standard library's http.client).
Phases:

1. batch entry: POST /api/v1/orders/batch/ with 100 orders a request, ``CLIENTS`` clients in a
   closed loop, no matching worker and no dispatch (entry alone): accepted orders/s, on one
   instrument (every batch takes its lock) and on two (batches alternate).
2. single orders: POST /api/v1/orders/ open loop at a fixed rate (default 200/s), the worker
   running and dispatch on (the production path): p50/p99 from each request's scheduled time.
3. sustained single-order rate: closed loop, the worker running; then accept-to-match at half of
   it, open loop: the time from acceptance (the order's ``created_at``) until matching committed
   it. Measured two ways: an observer polling ``MatchState.matched_seq`` every ``POLL_MS``
   (an order is matched once matched_seq ≥ its seq; the time is the end of the first poll that
   saw it, so it errs late by up to one poll) for every order, and, for every 10th order, a
   client polling GET /api/v1/orders/{id}/ until the status is not ``pending`` (as a client sees
   it; those GETs load the server too).

Usage: .venv/bin/python bench/latency.py [--single-rate 200] [--seconds 10] [--help: the other knobs]
Database suanli_bench_latency (dropped and recreated), Redis db 7 (flushed).
"""

import argparse
import json
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/suanli_bench_latency")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ["MATCHING_DISPATCH"] = "false"  # this process only sets up; the servers get their own
from djangobench import django_setup, durability, ensure_database, machine, measured, rate, write_section  # noqa: E402

django_setup("suanli_bench_latency")

import loadgen  # noqa: E402
from loadgen import Client, closed_loop, open_loop, percentile  # noqa: E402

POLL_MS = 2


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def batch_entry(port, market, instruments, seconds, clients, tag):
    """Closed loop of batch requests; each batch is 100 orders of one organisation on one
    instrument, instruments alternating request by request."""
    per_instrument = [loadgen.order_stream(250_000 // len(instruments), 7 + k, inst, block=100)
                      for k, inst in enumerate(instruments)]  # fmt: skip
    # encoded before the clock starts, and the answers decoded after it stops: the load generator
    # shares the two cores with what it measures
    interleaved = [(label, json.dumps({"orders": bodies}).encode())
                   for blocks in zip(*per_instrument, strict=True) for label, bodies in blocks]  # fmt: skip
    local = threading.local()

    def send(i):
        label, body = interleaved[i]
        client = getattr(local, "client", None) or Client(port)
        local.client = client
        return client.request("POST", "/api/v1/orders/batch/", body, {"Idempotency-Key": f"{tag}-{i}"},
                              key=market.keys[label], raw=True)  # fmt: skip

    samples, wall = closed_loop(clients, len(interleaved), send, seconds=seconds)
    for s in samples:
        s.body = json.loads(s.body) if s.body and s.status else s.body
    accepted = refused = failed = 0
    for s in samples:
        if s.status != 200:
            failed += 1
            continue
        for r in s.body:
            accepted += r["order"] is not None
            refused += r["error"] is not None
    lat = [s.done - s.sent for s in samples]
    if failed:
        print(f"  {failed} batch requests failed, e.g. {next(s.body for s in samples if s.status != 200)}")
    return accepted, refused, failed, wall, lat


def single_orders(port, market, instrument, order_rate, count, tag, seed, threads=64, on_accept=None, drain=30.0):
    """Open loop of single orders; ``on_accept(sample)`` sees each accepted order."""
    stream = loadgen.order_stream(count, seed, instrument)
    local = threading.local()

    def send(i):
        label, (body,) = stream[i]
        client = getattr(local, "client", None) or Client(port)
        local.client = client
        status, out = client.request("POST", "/api/v1/orders/", body, {"Idempotency-Key": f"{tag}-{i}"},
                                     key=market.keys[label])  # fmt: skip
        if status == 201 and on_accept is not None:
            on_accept(i, label, out)
        return status, out

    return open_loop(order_rate, count, send, threads=threads, drain=drain)


class MatchObserver:
    """Polls the instrument's matched_seq; ``matched_at(seq)`` is the end of the first poll that
    saw it reached."""

    def __init__(self, instrument_id: int):
        import psycopg
        from django.conf import settings

        db = settings.DATABASES["default"]
        self.conn = psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"],
                                    password=db["PASSWORD"] or None, dbname=db["NAME"], autocommit=True)  # fmt: skip
        self.instrument_id = instrument_id
        self.seen: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.polls = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        last = -1
        sql = "select matched_seq from marketplace_matchstate where instrument_id = %s"
        while not self.stop.is_set():
            seq = self.conn.execute(sql, [self.instrument_id]).fetchone()[0]
            t = time.time()
            self.polls += 1
            if seq != last:
                self.seen.append((t, seq))
                last = seq
            time.sleep(POLL_MS / 1000)

    def matched_at(self, seq: int) -> float | None:
        return next((t for t, s in self.seen if s >= seq), None)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.conn.close()


class SingleCpu:
    """CPU seconds of the web workers, the database's backends, the matching worker's processes and
    this process (the load generator) from now on; ``per_order(n)`` says them per order."""

    def __init__(self, port: int, db_name: str):
        self.selects = (
            lambda pid, cmd: "gunicorn" in cmd and f"127.0.0.1:{port}" in cmd,
            lambda pid, cmd: cmd.startswith("postgres:") and f" {db_name} " in cmd,
            lambda pid, cmd: "celery" in cmd and "matcher@" in cmd,
        )
        self.seen = ({}, {}, {})
        self.before = self._now()

    def _now(self):
        return [loadgen.cpu_seconds(select, seen) for select, seen in zip(self.selects, self.seen, strict=True)] + [
            time.process_time()
        ]

    def per_order(self, n: int) -> str:
        web, db, worker, here = ((b - a) / max(n, 1) * 1e3 for a, b in zip(self.before, self._now(), strict=True))
        return (f"CPU per order: web {web:.2f} ms, PostgreSQL {db:.2f} ms, matching worker {worker:.2f} ms "
                f"(total {web + db + worker:.2f} ms), load generator {here:.2f} ms")  # fmt: skip


def wait_matched(instrument_id: int, timeout: float = 120) -> None:
    from marketplace.models import Instrument, MatchState

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = Instrument.objects.get(pk=instrument_id).last_seq
        if MatchState.objects.get(pk=instrument_id).matched_seq >= last:
            return
        time.sleep(0.05)
    raise RuntimeError("the worker did not catch up within the timeout")


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def statuses(samples) -> str:
    counts: dict[int, int] = {}
    for sample in samples:
        counts[sample.status] = counts.get(sample.status, 0) + 1
    return ", ".join(f"{n:,} × {status or 'unanswered'}" for status, n in sorted(counts.items()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-seconds", type=float, default=20, help="length of each batch-entry run")
    parser.add_argument("--clients", type=int, default=4, help="closed-loop clients for batch entry")
    parser.add_argument("--single-rate", type=float, default=200, help="open-loop single orders/s")
    parser.add_argument("--seconds", type=float, default=10, help="length of each open-loop run")
    parser.add_argument("--drain", type=float, default=20, help="seconds to wait for answers after the last send")
    parser.add_argument("--sustained-seconds", type=float, default=15, help="length of the closed-loop run")
    parser.add_argument("--sustained-clients", type=int, default=8)
    parser.add_argument("--match-rate", type=float, default=None, help="instead of half the sustained rate")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--web-threads", type=int, default=2, help="threads per worker (> 1: gthread workers)")
    parser.add_argument("--matching-nice", type=int, default=0,
                        help="run the matching worker at this nice level (0: the web server's priority)")  # fmt: skip
    parser.add_argument(
        "--batch-only", action="store_true", help="phase 1 only, figures printed and not written to docs/performance.md"
    )
    args = parser.parse_args()

    import redis
    from django.db import connections

    ensure_database()
    fsync, sync_commit = durability()
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # this benchmark's own Redis database
    market = loadgen.market_setup(loadgen.upcoming_daily_codes(3))
    one, two, live = market.instruments
    connections.close_all()
    revision = loadgen.product_revision()
    print(f"latency benchmark on PostgreSQL (fsync={fsync}, synchronous_commit={sync_commit}); {machine()}; "
          f"code {revision}")  # fmt: skip
    figures = []

    def show(fig):
        figures.append(fig)
        print("  " + " | ".join(fig), flush=True)

    def late(values):
        return f"> {args.drain:g} s after the last send (unanswered)" if values == float("inf") else ms(values)

    # 1. batch entry, no worker, no dispatch
    entry_env = loadgen.service_env(MATCHING_DISPATCH="false")
    web = {"workers": args.web_workers, "threads": args.web_threads}
    with loadgen.web_server(entry_env, **web) as port:
        db_name = connections["default"].settings_dict["NAME"]

        def is_web(pid, cmd):
            return "gunicorn" in cmd and f"127.0.0.1:{port}" in cmd

        def is_database(pid, cmd):
            return cmd.startswith("postgres:") and f" {db_name} " in cmd

        def cpu(seen_web, seen_db):
            """Web workers', the database backends' and this process's CPU seconds so far."""
            return (loadgen.cpu_seconds(is_web, seen_web), loadgen.cpu_seconds(is_database, seen_db),
                    time.process_time())  # fmt: skip

        for insts, label in (([one], "one instrument"), ([one, two], "two instruments, alternating")):
            load = loadgen.load_average()
            seen = ({}, {})
            before = cpu(*seen)
            acc, ref, failed, wall, lat = batch_entry(port, market, insts, args.batch_seconds, args.clients,
                                                      f"b{len(insts)}")  # fmt: skip
            used = [(b - a) / max(acc, 1) * 1e6 for a, b in zip(before, cpu(*seen), strict=True)]
            show((f"batch entry, 100 per request, {label}", f"{rate(acc, wall):,.0f} orders/s",
                  f"{acc:,} accepted, {ref:,} refused, {failed} failed requests in {wall:.1f} s; {args.clients} "
                  f"clients, closed loop; request p50 {ms(percentile(lat, 50))}, p99 {ms(percentile(lat, 99))}; "
                  f"CPU per order: web {used[0]:.0f} µs, PostgreSQL {used[1]:.0f} µs, load generator "
                  f"{used[2]:.0f} µs; no matching; load avg {load}"))  # fmt: skip

    if args.batch_only:
        return

    # 2 and 3: the worker running and dispatch on (a task per accepted order, after commit), on a
    # fresh database: a starting worker matches every backlog, and phase 1 leaves tens of thousands
    # of unmatched orders that would queue ahead of the live instrument's tasks
    ensure_database()
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    market = loadgen.market_setup(loadgen.upcoming_daily_codes(3))
    live = market.instruments[2]
    connections.close_all()
    live_env = loadgen.service_env(MATCHING_DISPATCH="true")
    with (
        loadgen.web_server(live_env, **web) as port,
        loadgen.matching_worker("matcher", ["matching-0", "matching-1"], live_env, nice=args.matching_nice) as (
            _,
            worker_out,
        ),
    ):
        worker_out.wait_for(" ready.", 60)

        local = threading.local()
        stream = loadgen.order_stream(100_000, 13, live)

        def send(i):
            label, (body,) = stream[i]
            client = getattr(local, "client", None) or Client(port)
            local.client = client
            return client.request("POST", "/api/v1/orders/", body, {"Idempotency-Key": f"c-{i}"},
                                  key=market.keys[label])  # fmt: skip

        samples, wall = closed_loop(1, len(stream), lambda i: send(len(stream) - 1 - i), seconds=5)
        one_client = [s.done - s.sent for s in samples]
        show(("single orders, one client (service time)", f"p50 {ms(percentile(one_client, 50))}",
              f"{len(samples):,} orders one after another; answers: {statuses(samples)}; worker matching meanwhile; "
              f"load avg {loadgen.load_average()}"))  # fmt: skip
        wait_matched(live.pk)
        load = loadgen.load_average()
        meter = SingleCpu(port, db_name)
        samples, wall = closed_loop(args.sustained_clients, len(stream), send, seconds=args.sustained_seconds)
        wait_matched(live.pk)  # the worker's CPU for these orders included
        accepted = sum(s.status == 201 for s in samples)
        sustained = rate(accepted, wall)
        show(("sustained single-order rate (closed loop)", f"{sustained:,.0f} orders/s",
              f"{args.sustained_clients} clients for {wall:.1f} s; answers: {statuses(samples)}; request p50 "
              f"{ms(percentile([s.done - s.sent for s in samples], 50))}; worker matching meanwhile; "
              f"{meter.per_order(accepted)}; load avg {load}"))  # fmt: skip

        match_rate = args.match_rate or max(1.0, sustained / 2)
        observer = MatchObserver(live.pk)
        accepted_orders: dict[int, tuple[int, float]] = {}  # index -> (seq, accepted at)
        gets: dict[int, float] = {}  # index -> first time GET showed it not pending
        pollers: list[threading.Thread] = []

        def follow(i, label, order):
            client = Client(port, key=market.keys[label])
            deadline = time.time() + 60
            while time.time() < deadline:
                status, out = client.request("GET", f"/api/v1/orders/{order['id']}/")
                if status == 200 and out["status"] != "pending":
                    gets[i] = time.time()
                    return
                time.sleep(0.01)

        def on_accept(i, label, order):
            accepted_orders[i] = (order["seq"], epoch(order["created_at"]))
            if i % 10 == 0:
                t = threading.Thread(target=follow, args=(i, label, order), daemon=True)
                pollers.append(t)
                t.start()

        n = max(1, int(match_rate * args.seconds * 2))
        load = loadgen.load_average()
        samples = single_orders(port, market, live, match_rate, n, "m", seed=17, on_accept=on_accept,
                                drain=args.drain)  # fmt: skip
        wait_matched(live.pk)
        time.sleep(3 * POLL_MS / 1000)
        observer.close()
        for t in pollers:
            t.join()
        entry = [s.latency if s.status else float("inf") for s in samples]
        via_state = [observer.matched_at(seq) - at for seq, at in accepted_orders.values()]
        via_get = [gets[i] - accepted_orders[i][1] for i in gets]
        show((f"accept-to-match at {match_rate:,.1f} orders/s (half sustained), {n / match_rate:.0f} s: p50 / p99",
              f"{ms(percentile(via_state, 50))} / {ms(percentile(via_state, 99))}",
              f"{len(via_state):,} orders, matched_seq polled every {POLL_MS} ms; max {ms(max(via_state))}; "
              f"entry latency p50 {late(percentile(entry, 50))}, p99 {late(percentile(entry, 99))}; answers: "
              f"{statuses(samples)}; load avg {load}"))  # fmt: skip
        show(("same run, as a client sees it (GET until not pending): p50 / p99",
              f"{ms(percentile(via_get, 50))} / {ms(percentile(via_get, 99))}",
              f"every 10th order ({len(via_get):,}), polled every 10 ms"))  # fmt: skip
        n = int(args.single_rate * args.seconds)
        load = loadgen.load_average()
        meter = SingleCpu(port, db_name)
        samples = single_orders(port, market, live, args.single_rate, n, "s", seed=11, drain=args.drain)
        wait_matched(live.pk)
        lat = [s.latency if s.status else float("inf") for s in samples]
        # each request: when it was due (from the first), how late the generator sent it, its latency
        with (loadgen.LOG_DIR / "single-orders.tsv").open("w") as out:
            out.write("due_s\tsend_delay_ms\tlatency_ms\tstatus\n")
            for s in samples:
                out.write(
                    f"{s.due - samples[0].due:.4f}\t{(s.sent - s.due) * 1e3:.2f}\t{s.latency * 1e3:.2f}\t{s.status}\n"
                )
        show((f"single orders at {args.single_rate:,.0f}/s open loop, {args.seconds:g} s: p50 / p99",
              f"{late(percentile(lat, 50))} / {late(percentile(lat, 99))}",
              f"answers: {statuses(samples)}; from each request's scheduled time; worker matching "
              f"meanwhile; {meter.per_order(sum(s.status == 201 for s in samples))}; load avg {load}"))  # fmt: skip
        failed_tasks = sum("raised unexpected" in line for _, line in worker_out.lines)
        deadlocks = sum("deadlock detected" in line for _, line in worker_out.lines if "raised unexpected" in line)
        print(f"  worker: {sum('succeeded in' in line for _, line in worker_out.lines):,} matching tasks succeeded, "
              f"{failed_tasks} failed ({deadlocks} of them: deadlock detected)")  # fmt: skip

    server = (f"{args.web_workers} gthread workers × {args.web_threads} threads" if args.web_threads > 1
              else f"{args.web_workers} sync workers")  # fmt: skip
    worker_nice = f", at nice {args.matching_nice}" if args.matching_nice else ", at the web server's priority"
    lines = [
        f"Measured {measured()} on {machine()}; PostgreSQL with fsync={fsync}, "
        f"synchronous_commit={sync_commit}; code {revision}. gunicorn (config.wsgi, {server}) and "
        f"one Celery matching worker (concurrency 1, Redis broker{worker_nice}) on loopback; the load generator "
        "is this process (threads, http.client); everything, PostgreSQL included, shares the machine's 2 cores "
        "(with whatever else runs: see the load averages). Throttling raised out of the way "
        "(THROTTLE_ORGANISATION); DEBUG off.",
        "",
        "| what | figure | how |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in figures),
        "",
        "Open loop: each request is due at a fixed rate whether or not earlier ones were answered, and its "
        "latency counts from that due time. Accept-to-match is the time from the order's acceptance "
        "(`created_at`, stamped under the instrument lock before the accepting commit) until the matching "
        f"transaction that covers its seq has committed, seen by polling `MatchState.matched_seq` every {POLL_MS} "
        "ms (late by at most one poll); the GET figure is the same from a client's side.",
        "",
        f"Reproduce: `.venv/bin/python bench/latency.py --single-rate {args.single_rate:g} --seconds "
        f"{args.seconds:g}{f' --matching-nice {args.matching_nice}' if args.matching_nice else ''}` "
        "(database suanli_bench_latency and Redis db 7, both emptied first; `--help` "
        "for the other knobs).",
    ]
    write_section("## Order entry over HTTP and accept-to-match latency (bench/latency.py)", lines)


if __name__ == "__main__":
    loadgen.main_guard(main)
