"""Benchmark: the scheduler's pure core (issue 7) on a generated market (bench/schedmarket.py:
100 pools over the eight regions with their real tariffs, ~175 retail listings and wholesale asks,
1,000 demands, a 72-hour horizon), reporting side by side in one run:

- the total cost of the solver's placement (`schedule`), of the greedy cheapest-first rule
  (`greedy`, the fallback) and the LP relaxation's lower bound, the gap to the bound and
  greedy ÷ solver;
- constraint violations of both (`violations`, must be 0);
- solve time, wall and CPU, median of `--rounds` (each round schedules the same market afresh);
- the model's size (candidate columns, the LP's columns and rows after column generation).

The same market with a flat tariff (every multiplier 1.00) is run as a control: it shows what the
time-of-use spread is worth (no target there).

Usage: .venv/bin/python bench/scheduling.py [--seed 42] [--pools 100] [--demands 1000] [--rounds 5]
       [--time-limit 2.0] [--no-write]
"""

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.djangobench import machine, measured, write_section  # noqa: E402
from bench.schedmarket import market  # noqa: E402
from marketplace.scheduling import greedy, schedule, violations  # noqa: E402
from marketplace.scheduling import solver as scheduling_solver  # noqa: E402


def money(x: Decimal) -> str:
    return f"{x:,.2f}"


def placed_units(solution) -> tuple[int, int]:
    full = sum(1 for p in solution.placements.values() if p.placed >= p.requested)
    return full, len(solution.placements)


def run(problem, *, rounds: int, time_limit: float) -> dict:
    began = time.perf_counter()
    base = greedy(problem)
    greedy_s = time.perf_counter() - began
    walls, cpus, solutions, stats = [], [], [], []
    for _ in range(rounds):
        s: dict = {}
        w, c = time.perf_counter(), time.process_time()
        solution = scheduling_solver.solve(problem, time_limit=time_limit, began=w, stats=s)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
        solutions.append(solution)
        stats.append(s)
    # the same call through the public entry point, to show it is the one measured
    public = schedule(problem, time_limit=time_limit)
    # the round with the median total stands for the run (rounds differ where the wall-clock limit cut
    # column generation at a different point)
    k = sorted(range(rounds), key=lambda i: solutions[i].total)[rounds // 2]
    sol = solutions[k]
    # the same market without the time pressure: what the method reaches given the CPU it needs
    w, c = time.perf_counter(), time.process_time()
    free = scheduling_solver.solve(problem, time_limit=60.0, began=w)
    free_wall, free_cpu = time.perf_counter() - w, time.process_time() - c
    return {
        "free": free,
        "free_wall": free_wall,
        "free_cpu": free_cpu,
        "totals": [x.total for x in solutions],
        "greedy": base,
        "greedy_s": greedy_s,
        "solution": sol,
        "public": public,
        "walls": walls,
        "cpus": cpus,
        "stats": stats[k],
        "methods": [f"{x.method}/{x.status}" for x in solutions],
        "v_solver": sorted({v for x in solutions for v in violations(problem, x)}),
        "v_greedy": violations(problem, base),
        "v_public": violations(problem, public),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pools", type=int, default=100)
    parser.add_argument("--demands", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=72)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=2.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    problem = market(seed=args.seed, pools=args.pools, demands=args.demands, hours=args.hours)
    flat = replace(problem, tou_multipliers={k: Decimal("1.00") for k in problem.tou_multipliers})
    results = {}
    for name, p in (("time of use", problem), ("flat tariff (control)", flat)):
        r = run(p, rounds=args.rounds, time_limit=args.time_limit)
        results[name] = r
        sol, base = r["solution"], r["greedy"]
        print(
            f"{name}: solver {money(sol.total)} ({', '.join(r['methods'])}), greedy {money(base.total)}, "
            f"LP bound {money(sol.lower_bound) if sol.lower_bound is not None else '-'}; "
            f"wall median {statistics.median(r['walls']):.3f} s, CPU median {statistics.median(r['cpus']):.3f} s; "
            f"violations solver {len(r['v_solver'])}, greedy {len(r['v_greedy'])}, schedule() {len(r['v_public'])}; "
            f"stats {r['stats']}"
        )
    load = os.getloadavg()
    main_r = results["time of use"]
    sol, base = main_r["solution"], main_r["greedy"]
    gap = (sol.total - sol.lower_bound) / sol.lower_bound * 100 if sol.lower_bound else None
    ratio = base.total / sol.total
    saving = (1 - sol.total / base.total) * 100
    wall = statistics.median(main_r["walls"])
    cpu = statistics.median(main_r["cpus"])
    st = main_r["stats"]
    command = (
        f".venv/bin/python bench/scheduling.py --seed {args.seed} --pools {args.pools} --demands {args.demands} "
        f"--rounds {args.rounds} --time-limit {args.time_limit}"
    )
    offers = len(problem.offers)
    asks = sum(1 for o in problem.offers if o.kind == "wholesale")
    lines = [
        f"Measured {measured()} on {machine()}; HiGHS through highspy, one thread; "
        f"one process. Market: bench/schedmarket.py seed {args.seed}, {args.pools} pools over the eight regions "
        f"of data/regions.json, {offers - asks} retail listings (per-time and per-volume) and {asks} wholesale "
        f"asks, {args.demands:,} demands, a {args.hours}-hour horizon. Load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} (other work shares the two cores: wall time exceeds CPU time).",
        "",
        "| market | solver total (CNY) | greedy total | LP lower bound | solver ÷ bound | greedy ÷ solver "
        "| violations solver / greedy | demands placed whole, solver / greedy | solve wall, median (range) "
        "| solve CPU, median | greedy time |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        s_, g_ = r["solution"], r["greedy"]
        lb = s_.lower_bound
        lines.append(
            f"| {name} | {money(s_.total)} | {money(g_.total)} | {money(lb) if lb is not None else '-'} | "
            f"{f'{(s_.total / lb - 1) * 100:+.2f} %' if lb else '-'} | {g_.total / s_.total:.3f} | "
            f"{len(r['v_solver'])} / {len(r['v_greedy'])} | "
            f"{placed_units(s_)[0]:,} / {placed_units(g_)[0]:,} of {placed_units(s_)[1]:,} | "
            f"{statistics.median(r['walls']):.2f} s ({min(r['walls']):.2f}–{max(r['walls']):.2f}) | "
            f"{statistics.median(r['cpus']):.2f} s | {r['greedy_s']:.2f} s |"
        )
    for name, r in results.items():
        f_ = r["free"]
        lines.append(
            f"| {name}, no time pressure (limit 60 s, one round) | {money(f_.total)} | {money(r['greedy'].total)} | "
            f"{money(f_.lower_bound) if f_.lower_bound is not None else '-'} | "
            f"{f'{(f_.total / f_.lower_bound - 1) * 100:+.2f} %' if f_.lower_bound else '-'} | "
            f"{r['greedy'].total / f_.total:.3f} | {len(violations(problem if name == 'time of use' else flat, f_))} / "
            f"{len(r['v_greedy'])} | {placed_units(f_)[0]:,} / {placed_units(r['greedy'])[0]:,} of "
            f"{placed_units(f_)[1]:,} | {r['free_wall']:.2f} s | {r['free_cpu']:.2f} s | |"
        )
    lines += [
        "",
        "Totals of the 2-second rounds (time of use): "
        + ", ".join(money(t) for t in results["time of use"]["totals"])
        + "; the table shows the round with the median total.",
        "",
        f"Model (time of use): {st.get('candidates', 0):,} candidate (demand, offer, start) columns; the LP after "
        f"column generation {st.get('lp_columns', 0):,} columns × {st.get('lp_rows', 0):,} rows; building the "
        f"columns {st.get('columns_seconds', 0):.2f} s, the LP rounds {st.get('lp_seconds', 0):.2f} s of the "
        f"median round. Method/status of the rounds: "
        + "; ".join(f"{name}: {', '.join(r['methods'])}" for name, r in results.items())
        + " (`time_limit`: the rounding was more than 1 % above the bound, so the MILP ran to the limit; "
        "`feasible`: the rounding kept, within 1 % but not proven within 0.5 %).",
        "",
        f"- solver within {gap:.2f} % of the LP lower bound, target ≤ 1 %: {'met' if gap <= 1 else 'NOT met'}"
        if gap is not None
        else "- no lower bound (the solver fell back or supply was short), target ≤ 1 %: NOT met",
        f"- solver {saving:.1f} % cheaper than greedy (greedy ÷ solver {ratio:.3f}) on the market with "
        f"time-of-use spread, target ≥ 10 %: {'met' if saving >= 10 else 'NOT met'}",
        f"- constraint violations: solver {len(main_r['v_solver'])}, greedy {len(main_r['v_greedy'])}, "
        f"target 0: {'met' if not main_r['v_solver'] and not main_r['v_greedy'] else 'NOT met'}",
        f"- solve time {wall:.2f} s wall (median of {args.rounds}; CPU {cpu:.2f} s), target < 2 s per round: "
        f"{'met' if wall < 2 else 'NOT met'}",
        "",
        "What the figures mean: the totals are exact (Decimal) sums of price + energy at the time-of-use rate "
        "+ carbon weight × kgCO2 over every part, recomputed from the chosen integer units; both methods place the "
        "same demands whole (the rest have no eligible offer). The lower bound is the best Lagrangian bound of "
        "the LP relaxation seen during column generation (valid for the whole model, every candidate column "
        "priced), so the solver ÷ bound figure over-states the true distance from the optimum. Greedy is the "
        "documented fallback: earliest start, cheapest posted price first, blind to energy, carbon and time of "
        "use; the flat-tariff control shows how much of the saving is time of use (valley shifting and "
        "per-volume prices) and how much is power price and carbon (placing in the western hubs).",
        "",
        "What bounds it: the LP. The first solve from scratch and a few warm re-solves as column generation "
        "adds columns (simplex iterations in HiGHS, one thread) take about half the CPU; building the candidate "
        "columns (numpy, one pass per demand) about a quarter; rounding, reading back the exact Decimal costs and "
        "checking them with `violations` the rest. The round's wall time is CPU time plus waiting for a core: "
        "on this shared two-core machine the wall figure moves with the load average; the CPU figure does not. "
        "The MILP runs on a large round only when the rounding is more than 1 % above the bound (when column "
        "generation was cut short by the time limit on a loaded machine, the bound is weaker and it does); small "
        "rounds (≤ 20,000 candidate columns) are solved exactly by the MILP. Rounds differ only where the "
        "wall-clock limit cut column generation at a different point; the rows without time pressure show what "
        "the method reaches with the CPU it needs.",
        "",
        f"Reproduce: `{command}`",
    ]
    for line in lines:
        print(line)
    if not args.no_write:
        write_section("## Scheduling (bench/scheduling.py)", lines)


if __name__ == "__main__":
    main()
