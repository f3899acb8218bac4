"""`schedule`, the entry point: the solver when it can run, else the documented greedy rule.
The solver's modules (numpy, highspy) are imported only here, so the package imports and the
fallback works on an installation without them."""

import time

from marketplace.scheduling.greedy import greedy
from marketplace.scheduling.types import Problem, Solution


def _greedy_fallback(problem: Problem, *, began: float, why: str) -> Solution:
    from dataclasses import replace

    return replace(greedy(problem), status=f"fallback: {why}", seconds=time.perf_counter() - began)


def schedule(problem: Problem, *, time_limit: float = 2.0, use_solver: bool = True) -> Solution:
    """Place `problem`'s demands (see solver.py); `time_limit` bounds the solver's wall time, in
    seconds, from when it is loaded (the greedy fallback, when it is needed, runs after it)."""
    began = time.perf_counter()
    if not use_solver:
        return _greedy_fallback(problem, began=began, why="solver not used")
    try:
        from marketplace.scheduling import solver
    except ImportError as exc:  # highspy or numpy missing
        return _greedy_fallback(problem, began=began, why=f"solver unavailable ({exc.name})")
    # the first call in a process pays for importing numpy and HiGHS; the time limit starts after it
    return solver.solve(problem, time_limit=time_limit, began=time.perf_counter())
