"""What the end-to-end benchmarks (bench/latency.py, bench/scaleout.py) share: a market set up for
HTTP clients (bench/matching.py's sellers and funded buyers, plus an API key each), the web server
and the matching workers as subprocesses that always end, an HTTP client on the standard library,
and open- and closed-loop load generators.

Open loop: request i is due at ``start + i / rate`` whether or not earlier ones have answered, and
its latency is measured from that due time, so a server that falls behind shows its queueing in the
figures instead of slowing the generator down (no coordinated omission).

Import after ``djangobench.django_setup`` (the market setup uses the ORM).
"""

import atexit
import http.client
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent  # gunicorn and celery beside the running interpreter
LOG_DIR = ROOT / "var" / "bench"

# ---------------------------------------------------------------------------------------------
# the market


SELLERS, BUYERS = 4, 4


@dataclass
class Market:
    actors: dict  # label ("s0", "b1", ...) -> (user, organisation)
    instruments: list  # Instrument rows
    keys: dict = field(default_factory=dict)  # label -> plaintext API key


def market_setup(codes: list[str]) -> Market:
    """The world of bench/matching.py — sellers with a connected pool of 10,000,000 H100 units each,
    buyers funded with 10^12 CNY — the instruments, and an orders:read/orders:write API key per
    organisation."""
    from django.utils import timezone

    from accounts.models import Membership, Organisation, User
    from accounts.services import api_key_create
    from catalog.services import heartbeat_record, pool_apply, pool_key_create, pool_verify, reference_data_load
    from marketplace.services import instrument_ensure
    from settlement.services import bank_reference_for, bank_transfer_record

    reference_data_load()
    op = User.objects.create_user(email="op@bench.test", password=None)
    platform_org = Organisation.objects.create(name="P", slug="p", is_platform=True)
    Membership.objects.create(user=op, organisation=platform_org, role="owner")
    actors = {}
    for i in range(SELLERS):
        user = User.objects.create_user(email=f"s{i}@bench.test", password=None)
        org = Organisation.objects.create(name=f"S{i}", slug=f"s{i}", is_provider=True)
        Membership.objects.create(user=user, organisation=org, role="owner")
        pool = pool_apply(actor=user, organisation=org, descriptor={
            "code": f"bench-{i}", "name": f"Bench {i}", "region": "YRD", "tier": "MAIN", "city": "Shanghai",
            "location": {"latitude": Decimal("31.2"), "longitude": Decimal("121.5")}, "rtt_ms": Decimal("2"),
            "resources": [{"class": "H100-80G", "units": 10_000_000}], "pue": Decimal("1.2"),
            "green_power_share": Decimal("0.3"), "security_level": 3, "data_residency": True,
        })  # fmt: skip
        pool_verify(actor=op, pool_id=pool.pk)
        key, _ = pool_key_create(actor=user, organisation=org, pool_id=pool.pk, name="bench")
        heartbeat_record(pool_key=key, pool_id=pool.pk, ts=timezone.now(), available={}, health="ok")
        actors[f"s{i}"] = (user, org)
    for i in range(BUYERS):
        user = User.objects.create_user(email=f"b{i}@bench.test", password=None)
        org = Organisation.objects.create(name=f"B{i}", slug=f"b{i}")
        Membership.objects.create(user=user, organisation=org, role="owner")
        bank_transfer_record(actor=op, reference=bank_reference_for(organisation=org).code,
                             amount=Decimal("1000000000000.00"), bank_transaction_id=f"bench-{i}")  # fmt: skip
        actors[f"b{i}"] = (user, org)
    market = Market(actors=actors, instruments=[instrument_ensure(code=code) for code in codes])
    for label, (user, org) in actors.items():
        _, plaintext = api_key_create(
            actor=user, organisation=org, name="bench", scopes=["orders:read", "orders:write"]
        )
        market.keys[label] = plaintext
    return market


def upcoming_daily_codes(n: int) -> list[str]:
    from django.utils import timezone

    from marketplace.services import upcoming_windows

    days = [d for d, k in upcoming_windows(now=timezone.now()) if k == "D"][:n]
    return [f"H100-80G.YRD.MAIN.{d:%Y%m%d}.D" for d in days]


def order_stream(n: int, seed: int, instrument, block: int = 1) -> list[tuple[str, list[dict]]]:
    """Seeded GTC limit orders (a tenth IOC) around the reference price, as API request bodies, in
    blocks of ``block`` orders from one organisation (a provider's asks or a buyer's bids), the
    organisations in random order: about half of the orders trade (bench/matching.py's stream)."""
    rng = random.Random(seed)
    ref, tick = instrument.reference_price, instrument.tick
    blocks = []
    for _ in range(max(1, n // block)):
        buy = rng.random() < 0.5
        label = f"b{rng.randrange(BUYERS)}" if buy else f"s{rng.randrange(SELLERS)}"
        bodies = []
        for _ in range(block):
            offset = rng.randint(-10, 12) if buy else rng.randint(-12, 10)
            bodies.append({"instrument": instrument.code, "side": "buy" if buy else "sell", "type": "limit",
                           "price": str((ref + offset * tick).quantize(tick)), "qty": 8 * rng.randint(1, 4),
                           "tif": "IOC" if rng.random() < 0.1 else "GTC"})  # fmt: skip
        blocks.append((label, bodies))
    return blocks


# ---------------------------------------------------------------------------------------------
# subprocesses that always end

_live: dict[int, subprocess.Popen] = {}


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """End a process we started, by its id: SIGTERM to it (gunicorn and Celery then shut down
    warm, a task in flight finishing), then SIGKILL to whatever of its session is left."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:  # children that outlived their leader (prefork pool, gunicorn workers)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    _live.pop(proc.pid, None)


def _stop_all() -> None:
    for proc in list(_live.values()):
        _stop(proc, grace=3.0)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through every ``finally`` and context manager


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


class Lines:
    """A subprocess's merged output, each line stamped with the time it was read."""

    def __init__(self, proc: subprocess.Popen, log: Path):
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._log = log.open("w", encoding="utf-8")
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append((time.time(), line))
                self._cond.notify_all()
            self._log.write(line + "\n")
            self._log.flush()
        self._log.close()

    def wait_for(self, text: str, timeout: float, count: int = 1) -> float:
        """The time the ``count``-th line containing ``text`` appeared."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [t for t, line in self.lines if text in line]
                if len(hits) >= count:
                    return hits[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(line for _, line in self.lines[-20:])
                    raise RuntimeError(f"no {text!r} within {timeout:.0f} s; last output:\n{tail}")
                self._cond.wait(min(left, 0.5))

    def first(self, text: str) -> float | None:
        with self._cond:
            return next((t for t, line in self.lines if text in line), None)


@contextmanager
def process(name: str, cmd: list[str], env: dict):
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    # our own fixed commands (gunicorn, celery from the venv), never shell-interpreted
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # noqa: S603
                            start_new_session=True)  # fmt: skip
    _live[proc.pid] = proc
    try:
        yield proc, Lines(proc, LOG_DIR / f"{name}.log")
    finally:
        _stop(proc)


def service_env(**overrides) -> dict:
    """The environment of the web server and workers: this process's database, a broker, no
    throttling in the way (the throttle is not what is measured), no debug."""
    env = dict(os.environ)
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.dev", "DEBUG": "false", "PYTHONUNBUFFERED": "1",
                "THROTTLE_ORGANISATION": "10000000/min", "LOG_LEVEL": "INFO"})  # fmt: skip
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def web_server(env: dict, workers: int = 2, port: int | None = None, threads: int = 1):
    """gunicorn on loopback; yields the port. ``threads`` > 1: gthread workers (each serves that
    many requests at once and keeps connections alive), else sync workers (one request at a time
    each, the connection closed after it)."""
    port = port or free_port()
    cmd = [str(VENV_BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
           "--backlog", "4096", "--timeout", "120", "--log-level", "warning"]  # fmt: skip
    if threads > 1:
        cmd += ["-k", "gthread", "--threads", str(threads)]
    with process("gunicorn", cmd, env) as (proc, _):
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {LOG_DIR / 'gunicorn.log'}")
            try:
                status, _ = Client(port).request("GET", "/api/v1/orders/")
                if status in (200, 401, 403):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer within 60 s")
            time.sleep(0.2)
        # every worker imported and warm (the first request to each loads the URLconf)
        for _ in range(4 * workers):
            Client(port).request("GET", "/api/v1/orders/")
        yield port


@contextmanager
def matching_worker(name: str, queues: list[str], env: dict, concurrency: int = 1, nice: int = 0):
    """A Celery worker on the matching queues; yields its output (``Lines``) once it is ready.
    ``nice``: its CPU priority below the web server's (``nice -n``), as where order entry's answer
    matters more than how soon the worker batches what it accepted."""
    cmd = ["nice", "-n", str(nice)] if nice else []
    cmd += [str(VENV_BIN / "celery"), "-A", "config", "worker", "-n", f"{name}@%h", "-Q", ",".join(queues),
           f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip", "--without-mingle",
           "--without-heartbeat"]  # fmt: skip
    with process(name, cmd, env) as (proc, lines):
        yield proc, lines


# ---------------------------------------------------------------------------------------------
# HTTP


class Client:
    """One keep-alive connection (reopened when the server closes it, as gunicorn's sync workers
    do after every response)."""

    def __init__(self, port: int, key: str | None = None):
        self.port, self.key, self.conn = port, key, None

    def request(
        self, method: str, path: str, body=None, headers: dict | None = None, key: str | None = None, raw: bool = False
    ):
        """``body``: JSON-able, or bytes already encoded; ``raw``: return the answer's bytes
        undecoded (a caller that decodes them after the clock stops)."""
        hdrs = {"Accept": "application/json"}
        if key or self.key:
            hdrs["Authorization"] = f"Bearer {key or self.key}"
        if body is not None:
            hdrs["Content-Type"] = "application/json"
            body = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.update(headers or {})
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                if raw:
                    return resp.status, data
                try:
                    return resp.status, (json.loads(data) if data else None)
                except ValueError:  # an HTML error page
                    return resp.status, data[:200].decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


@dataclass
class Sample:
    index: int
    due: float  # time.time() the request was scheduled for
    sent: float
    done: float
    status: int
    body: object

    @property
    def latency(self) -> float:
        return self.done - self.due


def timed(send, index: int, due: float | None) -> Sample:
    """Send request ``index`` and time it, from ``due`` (open loop) or from now (closed loop)."""
    sent = time.time()
    try:
        status, body = send(index)
    except OSError as exc:
        status, body = 0, str(exc)
    return Sample(index, sent if due is None else due, sent, time.time(), status, body)


def open_loop(rate: float, n: int, send, threads: int = 64, drain: float = 30.0) -> list[Sample]:
    """Schedule ``n`` calls of ``send(index) -> (status, body)`` at ``rate``/s; ``threads``
    senders take them as they fall due (a late request waits in the queue, and that wait counts).
    What has not been answered ``drain`` seconds after the last was due is given up: its sample
    has status 0 and ``done`` = infinity (a server far behind would otherwise take minutes)."""
    due_q: queue.Queue = queue.Queue()
    samples: list[Sample] = []
    lock = threading.Lock()
    give_up = threading.Event()

    def sender():
        while True:
            job = due_q.get()
            if job is None:
                return
            index, due = job
            if give_up.is_set():
                with lock:
                    samples.append(Sample(index, due, float("inf"), float("inf"), 0, "given up"))
                continue
            sample = timed(send, index, due)
            with lock:
                samples.append(sample)

    workers = [threading.Thread(target=sender, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    start = time.time() + 0.1
    for i in range(n):
        due = start + i / rate
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        due_q.put((i, due))
    for _ in workers:
        due_q.put(None)
    deadline = time.time() + drain
    for w in workers:
        w.join(max(0.0, deadline - time.time()))
    give_up.set()
    with lock:
        done = {s.index for s in samples}
        out = list(samples)
    out += [Sample(i, start + i / rate, float("inf"), float("inf"), 0, "given up") for i in range(n) if i not in done]
    return sorted(out, key=lambda s: s.index)


def closed_loop(concurrency: int, n: int, send, seconds: float | None = None) -> tuple[list[Sample], float]:
    """``concurrency`` clients, each sending its next call as soon as the last answered, until
    ``n`` calls or ``seconds`` have passed; returns the samples and the wall time."""
    counter = iter(range(n))
    lock = threading.Lock()
    samples: list[Sample] = []
    stop_at = time.monotonic() + seconds if seconds else float("inf")

    def client():
        while True:
            with lock:
                index = next(counter, None) if time.monotonic() < stop_at else None
            if index is None:
                return
            sample = timed(send, index, None)
            with lock:
                samples.append(sample)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(samples, key=lambda s: s.index), time.perf_counter() - t0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def cpu_seconds(select, seen: dict | None = None) -> float:
    """User + system CPU time so far of the processes ``select(pid, cmdline)`` picks (Linux /proc);
    with ``seen`` (pid -> seconds, kept across calls), processes that have exited since count too.
    (bench/scaleout.py has its own copy.)"""
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


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def product_revision() -> str:
    """The commit measured, and whether product code had uncommitted changes (others work in this
    checkout: the servers import the working tree as it stood when they started)."""
    git = shutil.which("git") or "git"
    head = subprocess.run([git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)  # noqa: S603
    apps = ["accounts", "catalog", "config", "marketplace", "settlement"]
    dirty = subprocess.run([git, "status", "--porcelain", "--", *apps], cwd=ROOT, capture_output=True, text=True)  # noqa: S603
    changed = [line[3:] for line in dirty.stdout.splitlines()]
    return head.stdout.strip() + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")


def main_guard(main) -> None:
    """Run ``main``; whatever happens, every subprocess started here ends."""
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        _stop_all()
