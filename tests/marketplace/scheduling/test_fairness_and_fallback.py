"""Policy fairness when supply is short, and the greedy fallback."""

from decimal import Decimal

from marketplace.scheduling import greedy, schedule, violations
from marketplace.scheduling.fairness import pro_rata
from tests.marketplace.scheduling.build import demand, offer, problem


def placed(s):
    return {k: pl.placed for k, pl in s.placements.items()}


def test_pro_rata_floors_then_largest_remainders():
    # 10 units over requests 6, 5, 4 (15): shares 4, 3.33, 2.67 → floors 4, 3, 2 and the last unit to 2.67
    assert pro_rata(supply=Decimal(10), requests={"a": Decimal(6), "b": Decimal(5), "c": Decimal(4)}) == {
        "a": 4,
        "b": 3,
        "c": 3,
    }
    # equal fractions: ties by key
    assert pro_rata(supply=Decimal(1), requests={"y": Decimal(1), "x": Decimal(1)}) == {"x": 1, "y": 0}
    assert pro_rata(supply=Decimal(20), requests={"a": Decimal(6), "b": Decimal(5)}) == {"a": 6, "b": 5}


def test_short_supply_is_shared_pro_rata():
    p = problem(
        [offer("a", free=6), offer("b", free=4, region="GS")],
        [demand("demand:1", units=6), demand("demand:2", units=5), demand("demand:3", units=4)],
    )
    s = schedule(p)
    assert s.method == "milp"
    assert placed(s) == {"demand:1": 4, "demand:2": 3, "demand:3": 3}
    assert violations(p, s) == []
    # the bound is recomputed for the fair targets (the unshared problem's would not bound this answer)
    assert s.lower_bound is not None
    assert s.lower_bound <= s.total
    # the greedy rule is first come, first served
    assert placed(greedy(p)) == {"demand:1": 6, "demand:2": 4, "demand:3": 0}


def test_higher_priority_class_is_served_first():
    p = problem(
        [offer("a", free=10)],
        [
            demand("demand:1", units=6),
            demand("demand:2", units=6),
            demand("demand:public", units=8, priority=1),
        ],
    )
    s = schedule(p)
    assert placed(s) == {"demand:public": 8, "demand:1": 1, "demand:2": 1}
    assert violations(p, s) == []
    assert placed(greedy(p))["demand:public"] == 8


def test_fairness_only_where_supply_is_short():
    # H100 is short (8 free for 12 asked); L40S is plentiful: its demand is placed whole
    p = problem(
        [offer("h", free=8), offer("l", cls="L40S", price=Decimal("3.00"), free=50)],
        [demand("demand:1", units=6), demand("demand:2", units=6), demand("demand:3", resource_class="L40S", units=20)],
    )
    s = schedule(p)
    assert placed(s) == {"demand:1": 4, "demand:2": 4, "demand:3": 20}
    assert violations(p, s) == []


def test_fallback_without_the_solver():
    p = problem([offer("a", free=4), offer("b", free=8, billing="per_volume")], [demand(units=10, latest=20)])
    s = schedule(p, use_solver=False)
    assert s.method == "greedy"
    assert s.status.startswith("fallback:")
    assert s.placements["demand:1"].placed == 10
    assert violations(p, s) == []
    assert s.total == greedy(p).total


def test_fallback_when_the_time_limit_is_too_small():
    p = problem([offer("a", free=4), offer("b", free=8, billing="per_volume")], [demand(units=10, latest=20)])
    s = schedule(p, time_limit=1e-9)
    assert s.method == "greedy"
    assert s.status == "fallback: time_limit"
    assert violations(p, s) == []
    assert s.placements["demand:1"].placed == 10


def test_unplaceable_demand_is_present_with_no_parts():
    p = problem([offer("a", region="NMG")], [demand(city="SH", max_rtt_ms=5), demand("demand:2", units=2)])
    for s in (schedule(p), greedy(p)):
        assert s.placements["demand:1"].parts == ()
        assert s.placements["demand:1"].placed == 0
        assert s.placements["demand:2"].placed == 2
        assert violations(p, s) == []


def test_fallback_when_highspy_is_not_installed(monkeypatch):
    # an installation without highspy: importing the solver fails, schedule() still answers
    import sys

    import marketplace.scheduling as package

    for name in ("solver", "model", "fairness", "rounding"):
        monkeypatch.delitem(sys.modules, f"marketplace.scheduling.{name}", raising=False)
        monkeypatch.delattr(package, name, raising=False)
    monkeypatch.setitem(sys.modules, "highspy", None)
    p = problem([offer("a", free=4), offer("b", free=8)], [demand(units=10, latest=20)])
    s = schedule(p)
    assert s.method == "greedy"
    assert s.status == "fallback: solver unavailable (highspy)"
    assert violations(p, s) == []
