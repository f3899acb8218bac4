"""Benchmark: what ONE single order costs, end to end, in process.

POST /api/v1/orders/ through Django's test client (the same WSGI middleware, URLconf, DRF
authentication, throttle and view as gunicorn runs; the throttle on Redis), one order after another
on a fresh database; after each, what the matching worker does for it (``instrument_match``, as
the task or the wake-up runs it). Per order: the web side's CPU (this process), its PostgreSQL
backend's CPU (/proc/<pid>/stat), SQL statements and Redis round trips; the same for matching. With
``--profile``, cProfile's top functions of the web side.

Usage: .venv/bin/python bench/single_order.py [--orders 400] [--profile]
Database suanli_bench_single (dropped and recreated), Redis db 9 (flushed).
"""

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/suanli_bench_single")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ["THROTTLE_ORGANISATION"] = "10000000/min"  # the throttle runs, out of the way
os.environ["MATCHING_INTERVAL_MS"] = "0"  # --match-every stands for the orders a run gathers
from djangobench import django_setup, ensure_database  # noqa: E402

django_setup("suanli_bench_single")

import loadgen  # noqa: E402


class RedisCounter:
    """Round trips to Redis from this process: each command or pipeline sent is one."""

    def __init__(self):
        import redis.connection

        self.count = 0
        original = redis.connection.AbstractConnection.send_packed_command

        def counted(conn, command, check_health=True):
            self.count += 1
            return original(conn, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = counted


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """CPU of this process and of its PostgreSQL backend, statements and Redis round trips."""

    def __init__(self, redis_counter):
        from django.db import connection

        self.redis = redis_counter
        connection.ensure_connection()
        self.pid = connection.connection.info.backend_pid
        self.cpu = self.db = 0.0
        self.statements = self.round_trips = 0
        self.keep_sql = False

    def __enter__(self):
        from django.db import connection

        self.last = []
        self.wrapper = connection.execute_wrapper(self._count)  # no debug cursor: it costs CPU itself
        self.wrapper.__enter__()
        self.t0, self.d0, self.r0 = time.process_time(), backend_cpu(self.pid), self.redis.count
        return self

    def _count(self, execute, sql, params, many, context):
        self.last.append(sql if self.keep_sql else None)
        return execute(sql, params, many, context)

    def __exit__(self, *exc):
        self.cpu += time.process_time() - self.t0
        self.db += backend_cpu(self.pid) - self.d0
        self.round_trips += self.redis.count - self.r0
        self.wrapper.__exit__(*exc)
        self.statements += len(self.last)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--match-every", type=int, default=1,
                        help="run matching (the worker's task) after every N orders: the orders one wake-up "
                        "gathers under load")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="cProfile the web side, top 40 by own time")
    parser.add_argument("--profile-match", action="store_true", help="cProfile matching instead of the web side")
    parser.add_argument("--show-sql", action="store_true", help="print the statements of the last buy and sell")
    args = parser.parse_args()

    import json

    import redis
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from marketplace.tasks import instrument_match_task

    ensure_database()
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    market = loadgen.market_setup(loadgen.upcoming_daily_codes(1))
    (instrument,) = market.instruments
    stream = loadgen.order_stream(args.orders + 50, 23, instrument)
    client = Client(SERVER_NAME="127.0.0.1")
    counter = RedisCounter()
    web, match = Meter(counter), Meter(counter)
    web.keep_sql = match.keep_sql = args.show_sql
    print(f"dispatch {'on' if settings.MATCHING_DISPATCH else 'off'}; DEBUG {settings.DEBUG}; "
          f"load avg {loadgen.load_average()}")  # fmt: skip

    def post(i):
        label, (body,) = stream[i]
        response = client.post(
            "/api/v1/orders/", json.dumps(body), content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {market.keys[label]}", HTTP_IDEMPOTENCY_KEY=f"one-{i}",
        )  # fmt: skip
        assert response.status_code == 201, response.content
        return body["side"]

    for i in range(50):  # warm: imports, caches, plans
        post(args.orders + i)
        instrument_match_task.run(instrument.pk)
    profiler = cProfile.Profile(time.process_time) if args.profile or args.profile_match else None
    sql = {}
    for i in range(args.orders):
        if args.profile:
            profiler.enable()
        with web:
            side = post(i)
        if args.profile:
            profiler.disable()
        sql[side] = web.last
        if (i + 1) % args.match_every:
            continue
        if args.profile_match:
            profiler.enable()
        with match:
            instrument_match_task.run(instrument.pk)  # as the worker runs it, wake-up flag included
        if args.profile_match:
            profiler.disable()
        sql["matching"] = match.last
    n = args.orders
    print(f"{n} single orders, one after another, matching after every {args.match_every} "
          f"(load avg {loadgen.load_average()}):")  # fmt: skip
    for name, m in (("web (request)", web), (f"matching (per order; runs of {args.match_every})", match)):
        print(f"  {name}: CPU {m.cpu / n * 1e3:.2f} ms, PostgreSQL {m.db / n * 1e3:.2f} ms, "
              f"{m.statements / n:.2f} statements (BEGIN, COMMIT and COPY not counted), "
              f"{m.round_trips / n:.2f} Redis round trips")  # fmt: skip
    total = (web.cpu + web.db + match.cpu + match.db) / n
    print(f"  total CPU per order: {total * 1e3:.2f} ms (PostgreSQL backend {connection.connection.info.backend_pid})")
    if args.show_sql:
        for side, statements in sql.items():
            print(f"--- {side}: {len(statements)} statements")
            for s in statements:
                print("   ", s[:300])
            print("    (not listed: BEGIN and COMMIT, which the connection sends, and any COPY)")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # the tasks queued for no worker


if __name__ == "__main__":
    loadgen.main_guard(main)
