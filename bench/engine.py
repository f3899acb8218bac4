"""Benchmark: the pure matching engine core against two peer order books (issue 4's "Engine core").

One seeded stream of GTC limit orders (bench/orderstream.py) goes, in the same run, through:

- ``ours``: ``Engine.submit`` (typed: integer ticks, an aware datetime);
- ``apply``: ``Engine.apply`` on the same orders as §9 dict events (decimal and time strings, every
  event its own timestamp), returning Results with Decimal Trades;
- ``pyorderbook`` 0.4.9 and ``liquibook`` 2.0.1 (a Python fill listener), see bench/engine_peers.py;
- ``replay``: the same orders as a JSON Lines order log on disk, read, ``orjson.loads``-ed and applied
  line by line as ``manage.py replay`` does (printing the trades left out); and, once, the command
  itself end to end.

Each engine runs ``--rounds`` times, interleaved, with the interpreter's default garbage
collection; the figures are medians of wall time (CPU time beside them). Every engine must report
the same matched quantity, notional and number of fills (the check that they did the same work),
or the run fails. Prints each figure with the command that reproduces it and writes the "Engine
core" section of docs/performance.md (unless ``--no-write``).
Peers: ``.venv/bin/pip install -r bench/requirements.txt``.

Usage: .venv/bin/python bench/engine.py [--orders 1000000] [--rounds 3] [--only ours,pyorderbook] [--no-write]
"""

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import engine_peers  # noqa: E402
from machine import machine, measured  # noqa: E402
from orderstream import events, limit_stream, log_lines, price_text  # noqa: E402

RUNNERS = {
    "ours": (engine_peers.ours_submit, "ours, Engine.submit (typed)"),
    "apply": (engine_peers.ours_apply, "ours, Engine.apply (§9 dict events)"),
    "pyorderbook": (engine_peers.pyorderbook, "pyorderbook 0.4.9 (pure Python)"),
    "liquibook": (engine_peers.liquibook, "liquibook 2.0.1 (C++, Python fill listener)"),
    "replay": (engine_peers.replay, "replay: read + orjson.loads + Engine.apply"),
}
TARGET_RATE, TARGET_VS_PYORDERBOOK, TARGET_VS_LIQUIBOOK, TARGET_REPLAY_S = 300_000, 6.0, 0.6, 10.0


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg()[:2])


def inputs(name: str, orders: list[tuple], log: str):
    """Each engine's input in the shape its API takes, built before the clock starts."""
    if name == "ours":
        return [(seq, *order) for seq, order in enumerate(orders, start=2)]
    if name == "apply":
        return events(orders, distinct_times=True)
    if name == "pyorderbook":
        return [(side, price_text(ticks), qty) for _, _, side, ticks, qty in orders]
    if name == "liquibook":
        return [(side == "buy", ticks, qty) for _, _, side, ticks, qty in orders]
    return log


def command_replay(log: str) -> str:
    """``manage.py replay`` itself on the log, end to end, printing its trades to a file."""
    printed = Path(log).with_suffix(".trades.jsonl")
    with open(printed, "w", encoding="utf-8") as out:
        start = time.perf_counter()
        done = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "replay", log], cwd=ROOT, stdout=out, stderr=subprocess.PIPE, check=False
        )
        seconds = time.perf_counter() - start
    if done.returncode:
        return f"failed: {done.stderr.decode().strip().splitlines()[-1:]}"
    with open(printed, encoding="utf-8") as lines:
        count = sum(1 for _ in lines)
    return f"{seconds:.2f} s wall (Django start-up, the replay, {count:,} trade lines printed to a file)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(RUNNERS), help=f"comma-separated, of {', '.join(RUNNERS)}")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    parser.add_argument("--no-command", action="store_true", help="skip timing manage.py replay itself")
    args = parser.parse_args()
    chosen = [name for name in RUNNERS if name in args.only.split(",")]
    n, rounds = args.orders, args.rounds
    command = f".venv/bin/python bench/engine.py --orders {n} --rounds {rounds}"
    where = machine()
    print(f"engine core benchmark: {n:,} GTC limit orders (seed 42), {rounds} rounds; {where}; load {load()}")

    orders = limit_stream(n)
    runs: dict[str, list[tuple]] = {name: [] for name in chosen}
    parsing: list[float] = []  # the replay's read + orjson.loads alone
    with tempfile.TemporaryDirectory() as tmp:
        log = str(Path(tmp) / "orders.jsonl")
        if "replay" in chosen:
            with open(log, "w", encoding="utf-8") as out:
                out.writelines(log_lines(orders))
        for round_number in range(1, rounds + 1):
            for name in chosen:
                data = inputs(name, orders, log)
                gc.collect()
                runs[name].append(RUNNERS[name][0](data))
                del data
                wall, cpu, matched, _, _ = runs[name][-1]
                line = f"{wall:6.2f} s (CPU {cpu:6.2f} s)  matched qty {matched:,}  load {load()}"
                print(f"  round {round_number} {name:<12} {line}", flush=True)
                if name == "replay":
                    parsing.append(engine_peers.parse_only(log))
                    print(f"  round {round_number} {'(parse only)':<12} {parsing[-1]:6.2f} s", flush=True)
        replayed = command_replay(log) if "replay" in chosen and not args.no_command else None

    figures = {name: summarise(name, results, n) for name, results in runs.items()}
    work = {(f["matched"], f["notional"], f["fills"]) for f in figures.values()}
    print()
    for f in figures.values():
        print(
            f"  {f['label']:<44} {f['rate']:>9,.0f} /s  ({f['wall']:.2f} s, CPU {f['cpu']:.2f} s; median of {rounds})"
            f"  matched qty {f['matched']:,}, notional {f['notional']:,} tick·qty, {f['fills']:,} fills"
        )
        print(f"      reproduce: {command} --only {f['name']}")
    if replayed is not None:
        print(f"  manage.py replay itself on the same log: {replayed}")
    verdicts = target_lines(figures, statistics.median(parsing) if parsing else None)
    for line in verdicts:
        print(f"  {line}")
    print(f"  matched quantities {'agree' if len(work) == 1 else 'DISAGREE'}: {sorted(work)}")
    print(f"  all of it: {command}   (load at the end {load()})")
    if len(work) != 1:
        sys.exit("the engines did not do the same work; the comparison is void")
    if not args.no_write:
        write(figures, verdicts, replayed, n, rounds, command, where)


def summarise(name: str, results: list[tuple], n: int) -> dict:
    if any(r[2:] != results[0][2:] for r in results):
        sys.exit(f"{name} did different work in different rounds")
    wall = statistics.median(r[0] for r in results)
    _, _, matched, notional, fills = results[0]
    return {
        "name": name,
        "label": RUNNERS[name][1],
        "wall": wall,
        "cpu": statistics.median(r[1] for r in results),
        "spread": f"{min(r[0] for r in results):.2f}–{max(r[0] for r in results):.2f}",
        "rate": n / wall,
        "events": n + 1,  # and the listing
        "matched": matched,
        "notional": notional,
        "fills": fills,
    }


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    if (value >= target) if higher_is_better else (value <= target):
        return "met"
    short = (target - value) / target if higher_is_better else (value - target) / target
    return f"MISSED by {short:.0%}"


def target_lines(figures: dict, parsing: float | None) -> list[str]:
    lines = []
    ours = figures.get("ours")
    if ours:
        lines.append(
            f"ours: {ours['rate']:,.0f} orders/s, target ≥ {TARGET_RATE:,}: {verdict(ours['rate'], TARGET_RATE)}"
        )
    for peer, target in (("pyorderbook", TARGET_VS_PYORDERBOOK), ("liquibook", TARGET_VS_LIQUIBOOK)):
        if ours and peer in figures:
            ratio, by_cpu = ours["rate"] / figures[peer]["rate"], figures[peer]["cpu"] / ours["cpu"]
            lines.append(
                f"ours / {peer}: {ratio:.2f}× (by CPU time {by_cpu:.2f}×), target ≥ {target}×: {verdict(ratio, target)}"
            )
    if "apply" in figures and "pyorderbook" in figures:
        lines.append(
            f"apply / pyorderbook: {figures['apply']['rate'] / figures['pyorderbook']['rate']:.2f}× (no target)"
        )
    if "replay" in figures:
        seconds = figures["replay"]["wall"]
        lines.append(
            f"replay of the {figures['replay']['events']:,}-event log: {seconds:.2f} s, "
            f"target ≤ {TARGET_REPLAY_S:.0f} s: {verdict(seconds, TARGET_REPLAY_S, False)}; "
            f"reading the lines and orjson.loads alone take {parsing:.2f} s of it"
        )
    return lines


def write(
    figures: dict, verdicts: list[str], replayed: str | None, n: int, rounds: int, command: str, where: str
) -> None:
    out = ROOT / "docs" / "performance.md"
    section = [
        "## Engine core (bench/engine.py)",
        "",
        f"Measured {measured()} on {where}; one process, default garbage collection; "
        f"{n:,} GTC limit orders from bench/orderstream.py (seed 42), each engine {rounds} times, "
        "interleaved; medians of wall time. Buyers and sellers are different organisations, so "
        "self-trade prevention (which the peers lack) never fires and every engine must do the same work.",
        "",
        "| engine, API timed | orders/s | wall s | range, s | CPU s | matched qty | notional (tick·qty) | fills |",
        "|---|---|---|---|---|---|---|---|",
    ]
    section += [
        f"| {f['label']} | {f['rate']:,.0f} | {f['wall']:.2f} | {f['spread']} | {f['cpu']:.2f} | {f['matched']:,} | "
        f"{f['notional']:,} | {f['fills']:,} |"
        for f in figures.values()
    ]
    section += ["", *[f"- {line}" for line in verdicts]]
    if replayed is not None:
        section.append(f"- `manage.py replay` itself on the same log: {replayed}")
    section += ["", *NOTES, "", f"Reproduce: `.venv/bin/pip install -r bench/requirements.txt && {command}`"]
    text = out.read_text(encoding="utf-8")
    old = "## Matching engine core (bench/engine.py)"  # the section's title before
    heading = section[0] if section[0] in text or old not in text else old
    out.write_text(section_replace(text, heading, "\n".join(section)), encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")


def section_replace(text: str, heading: str, body: str) -> str:
    """Put ``body`` (a whole section, its heading included) where ``heading``'s section is, or at
    the end."""
    head, found, rest = text.partition(heading)
    tail = rest[rest.find("\n## ") + 1 :] if found and "\n## " in rest else ""
    if not found:
        head, tail = text, ""
    parts = [part.strip("\n") for part in (head, body, tail) if part.strip("\n")]
    return "\n\n".join(parts) + "\n"


NOTES = [
    "What is timed: for each order, the engine's own submission call (building pyorderbook's `Order` "
    "and liquibook's `SimpleOrder` included, as their APIs require) and reading the fills it reports. "
    "`Engine.submit` applies every rule `apply` does (duplicate id, window, side, time in force, lot, "
    "band, expiry, self-trade prevention, FOK); the peers check none of them. "
    "tests/marketplace/test_engine_fastpath.py proves `submit` and `cancel` equal to `apply` on random "
    "streams, and `apply` is built on `submit`.",
    "",
    "What bounds these: the engine is pure Python, so its cost is bytecodes: a plain GTC limit order "
    "that rests runs about 125 of them in one call (one combined validity test, one probe of the table "
    "of every order id, a look at the best contra level, a tuple appended to a price level), one that "
    "crosses some 65 more per fill. The rate falls as the book grows (roughly 780,000 orders/s over "
    "the first 50,000 orders, about a fifth less over the million, which leaves some 440,000 orders "
    "resting): the id table and the deep levels no longer fit in cache. pyorderbook pays for a "
    "`uuid4()` and a `Decimal` per order, logging calls, a heap of dataclass levels and a blotter per "
    "match. liquibook matches in C++, but a Python caller pays for building a SWIG `SimpleOrder`, the "
    "call into the book and, for a Python listener, a call back into Python per accepted order "
    "(`on_accept` is pure virtual in the binding) and per fill: measured apart, building the "
    "million `SimpleOrder`s takes it about 0.35 s and the callbacks about 0.7 s of its 1.7 s. "
    "`apply` reads strings (a time parsed per event, twelve dict "
    "lookups, the price string looked up in a per-market table) and builds Decimal Trades and a "
    "Result, then calls `submit`. In the replay, reading a line and `orjson.loads` cost about 1.3 µs "
    "a line on this interpreter (built without PGO or LTO, as a shared library, which slows every "
    "pure-Python figure here, ours and pyorderbook's alike). The target counts reading, parsing and "
    "applying; `manage.py replay` itself also starts Django and prints every trade (a "
    "`json.dumps` and a write each), which is why the command takes longer than the target's figure. "
    "The figures move by several per cent between rounds (see the range) and more when the "
    "machine's two cores are shared with other work: the replay's margin under 10 s is the thinnest.",
]


if __name__ == "__main__":
    main()
