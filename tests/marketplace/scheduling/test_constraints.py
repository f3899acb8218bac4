"""Each constraint of the scheduling interface is kept by the solver and by the greedy rule, and
`violations` reports it when a solution breaks it. In every case the offer that breaks the
constraint is the cheapest, so a scheduler that ignored the rule would take it."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from marketplace.scheduling import Solution, cheapest_single, greedy, schedule, violations
from marketplace.scheduling.costing import local_hours, part_make, placement_make
from tests.marketplace.scheduling.build import START, demand, offer, problem

METHODS = [pytest.param(schedule, id="schedule"), pytest.param(greedy, id="greedy")]
CHEAP = Decimal("5.00")


def used(solution: Solution) -> set[str]:
    return {p.offer for pl in solution.placements.values() for p in pl.parts}


def forced(p, demand_key: str, offer_key: str, *, start: int, units: int) -> Solution:
    """A hand-made solution putting `units` of one demand on one offer at `start`."""
    d = next(x for x in p.demands if x.key == demand_key)
    o = next(x for x in p.offers if x.key == offer_key)
    offers = {x.key: x for x in p.offers}
    part = part_make(problem=p, demand=d, offer=o, start=start, units=units, local=local_hours(problem=p))
    placements = {x.key: placement_make(demand=x, parts=(part,) if x is d else (), offers=offers) for x in p.demands}
    return Solution(
        placements=placements,
        method="greedy",
        status="test",
        total=sum((pl.total for pl in placements.values()), Decimal(0)),
        lower_bound=None,
        seconds=0.0,
    )


@pytest.mark.parametrize("method", METHODS)
def test_latency_ceiling(method):
    p = problem(
        [offer("far", region="NMG", price=CHEAP), offer("near", region="YRD")],
        [demand(city="SH", max_rtt_ms=10)],
    )
    s = method(p)
    assert used(s) == {"near"}
    assert s.placements["demand:1"].parts[0].rtt_ms == 3
    assert violations(p, s) == []
    assert any(
        v.startswith("demand:1 on far: latency") for v in violations(p, forced(p, "demand:1", "far", start=0, units=8))
    )


@pytest.mark.parametrize("method", METHODS)
def test_allowed_regions(method):
    p = problem(
        [offer("gs", region="GS", price=CHEAP), offer("yrd", region="YRD")], [demand(regions=frozenset({"YRD", "JJJ"}))]
    )
    s = method(p)
    assert used(s) == {"yrd"}
    assert violations(p, s) == []
    assert any("regions: GS" in v for v in violations(p, forced(p, "demand:1", "gs", start=0, units=8)))


@pytest.mark.parametrize("method", METHODS)
def test_residency(method):
    p = problem(
        [
            offer("other-region", region="GBA", price=CHEAP, residency=True),
            offer("no-guarantee", region="YRD", price=Decimal("6.00"), residency=False),
            offer("resident", region="YRD", residency=True),
        ],
        [demand(residency="YRD")],
    )
    s = method(p)
    assert used(s) == {"resident"}
    assert violations(p, s) == []
    for bad in ("other-region", "no-guarantee"):
        assert any("residency" in v for v in violations(p, forced(p, "demand:1", bad, start=0, units=8)))


@pytest.mark.parametrize("method", METHODS)
def test_window(method):
    # the offer is free only outside the window, except at hours 10-13: the job must run there
    free = [8] * 48
    p = problem([offer("a", free=free)], [demand(hours=4, earliest=10, latest=14)])
    s = method(p)
    (part,) = s.placements["demand:1"].parts
    assert part.start == START + timedelta(hours=10)
    assert part.end == START + timedelta(hours=14)
    assert violations(p, s) == []
    assert any("window" in v for v in violations(p, forced(p, "demand:1", "a", start=11, units=8)))


@pytest.mark.parametrize("method", METHODS)
def test_max_price_per_time_and_per_volume(method):
    # per-volume at 7.00 × 1.5 = 10.50 in peak hours, 7.00 in flat: a ceiling of 8.00 allows it only
    # for runs without a peak hour; the per-time listing at 9.00 is above the ceiling everywhere.
    p = problem(
        [offer("time", price=Decimal("9.00")), offer("volume", billing="per_volume", price=Decimal("7.00"))],
        # local 08:00-12:00 are peak hours 8-10 in YRD; the window 7-15 allows 11-15 (flat)
        [demand(hours=4, earliest=7, latest=15, max_price=Decimal("8.00"))],
    )
    s = method(p)
    (part,) = s.placements["demand:1"].parts
    assert part.offer == "volume"
    assert part.start == START + timedelta(hours=11)
    assert violations(p, s) == []
    assert any("max price: 9.00" in v for v in violations(p, forced(p, "demand:1", "time", start=7, units=8)))
    assert any("max price: 7.00 × 1.50" in v for v in violations(p, forced(p, "demand:1", "volume", start=7, units=8)))


@pytest.mark.parametrize("method", METHODS)
def test_capacity_is_shared_between_demands(method):
    p = problem(
        [offer("cheap", price=CHEAP, free=6), offer("dear", price=Decimal("20.00"), free=16)],
        [demand("demand:1", units=4), demand("demand:2", units=4)],
    )
    s = method(p)
    on_cheap = sum(pt.units for pl in s.placements.values() for pt in pl.parts if pt.offer == "cheap")
    assert on_cheap == 6
    assert all(pl.placed == 4 for pl in s.placements.values())
    assert violations(p, s) == []
    over = forced(p, "demand:1", "cheap", start=0, units=7)
    assert "cheap: capacity: 7 units at hour 0, 6 free" in violations(p, over)


@pytest.mark.parametrize("method", METHODS)
def test_minimum_duration(method):
    p = problem([offer("long-minimum", price=CHEAP, minimum_minutes=240), offer("ok")], [demand(hours=2)])
    s = method(p)
    assert used(s) == {"ok"}
    assert any("minimum" in v for v in violations(p, forced(p, "demand:1", "long-minimum", start=0, units=8)))


@pytest.mark.parametrize("method", METHODS)
def test_wholesale_lot_and_whole_window(method):
    window = (START, START + timedelta(hours=24))
    ask = offer(
        "ask",
        kind="wholesale",
        price=Decimal("1.00"),
        billing="per_time",
        minimum_minutes=0,
        window=window,
        lot=8,
        free=[16] * 24 + [0] * 24,
    )
    p = problem([ask, offer("retail", price=Decimal("10.00"))], [demand(units=5, hours=4, earliest=0, latest=30)])
    s = method(p)
    (part,) = s.placements["demand:1"].parts
    assert part.offer == "ask"
    assert part.units == 8  # one whole lot
    assert part.price_cost == Decimal("192.00")  # 1.00 × 8 units × the window's 24 hours
    assert part.end <= window[1]
    assert s.placements["demand:1"].placed == 8
    assert violations(p, s) == []
    assert any("lot" in v for v in violations(p, forced(p, "demand:1", "ask", start=0, units=5)))
    assert any("instrument's window" in v for v in violations(p, forced(p, "demand:1", "ask", start=22, units=8)))


def test_violations_catches_altered_costs_and_mixed_starts():
    p = problem([offer("a", free=4), offer("b", free=4)], [demand(units=8, hours=2, latest=10)])
    s = schedule(p)
    assert violations(p, s) == []
    pl = s.placements["demand:1"]
    cheaper = replace(pl, parts=(replace(pl.parts[0], price_cost=Decimal("0")),) + pl.parts[1:])
    assert any("differ from the tariff" in v for v in violations(p, replace(s, placements={"demand:1": cheaper})))
    moved = replace(pl.parts[1], start=pl.parts[1].start + timedelta(hours=1), end=pl.parts[1].end + timedelta(hours=1))
    mixed = replace(pl, parts=(pl.parts[0], moved))
    assert any("different hours" in v for v in violations(p, replace(s, placements={"demand:1": mixed})))


def test_exact_costs_of_a_part():
    # YRD H100: 8 units × 10.00 × 4 h; energy 8 × 1.275 kW × PUE 1.28 × 0.68 CNY/kWh × (valley 0.5 × 4 hours)
    p = problem([offer("a")], [demand(units=8, hours=4, carbon_weight=Decimal("0.10"))])
    (part,) = schedule(p).placements["demand:1"].parts
    assert part.start == START  # local 00:00-04:00, valley
    assert part.price_cost == Decimal("320.00")
    assert part.energy_cost == Decimal("8") * Decimal("1.275") * Decimal("1.28") * Decimal("0.68") * 2
    assert part.carbon_kg == Decimal("8") * Decimal("1.275") * Decimal("1.28") * Decimal("0.70") * 4
    assert part.carbon_cost == Decimal("0.10") * part.carbon_kg


def test_splitting_across_pools_when_none_holds_the_demand():
    p = problem(
        [offer("a", free=4), offer("b", free=3, region="GS"), offer("c", free=5, region="NX")],
        [demand(units=10, hours=3)],
    )
    s = schedule(p)
    pl = s.placements["demand:1"]
    assert pl.placed == 10
    # cheapest power first: NX (0.32/kWh) 5, GS (0.33) 3, then 2 in YRD (0.68)
    assert {x.offer: x.units for x in pl.parts} == {"c": 5, "b": 3, "a": 2}
    assert len({x.start for x in pl.parts}) == 1
    assert violations(p, s) == []
    assert cheapest_single(p, p.demands[0]) is None  # no single offer holds 10


def test_cheapest_single_listing():
    p = problem(
        [offer("a", price=Decimal("12.00")), offer("b", price=Decimal("11.00"), free=[0] * 2 + [8] * 46)],
        [demand(units=8, hours=2, latest=24)],
    )
    single = cheapest_single(p, p.demands[0])
    assert single is not None
    (part,) = single.parts
    assert part.offer == "b"
    assert part.start == START + timedelta(hours=2)  # b's earliest start with 8 free
    assert schedule(p).total <= single.total


def test_scu_demand_counts_tflops_across_gpu_classes():
    # 3,000 TFLOPS: H100 (989) and A100 (312) are both eligible; CPU classes are not
    p = problem(
        [
            offer("h100", cls="H100-80G", free=2),
            offer("a100", cls="A100-80G", price=Decimal("3.00"), free=16),
            offer("cpu", cls="VCPU-X86", price=Decimal("0.01"), free=1000),
        ],
        [demand(resource_class=None, min_scu=Decimal("3000"), units=0, hours=2)],
    )
    for method in (schedule, greedy):
        s = method(p)
        pl = s.placements["demand:1"]
        assert "cpu" not in used(s)
        assert pl.placed >= Decimal("3000")
        assert pl.requested == Decimal("3000")
        assert violations(p, s) == []


@pytest.mark.parametrize("method", METHODS)
def test_free_units_shorter_than_the_horizon_count_as_none(method):
    # the offer's figures cover only the first 6 hours of the 48-hour horizon
    p = problem([offer("short", free=[8] * 6)], [demand(units=8, hours=4, earliest=4, latest=20)])
    s = method(p)
    assert s.placements["demand:1"].parts == ()
    assert violations(p, s) == []
    assert "short: capacity: 8 units at hour 6, 0 free" in violations(
        p, forced(p, "demand:1", "short", start=4, units=8)
    )


@pytest.mark.parametrize("hours", [1, 4, 8])
@pytest.mark.parametrize("region", ["NMG", "YRD"])
def test_scu_demand_buys_the_whole_unit_that_covers_it(hours, region):
    # 2,000 TFLOPS on H100 (989 a unit): 2 units fall 22 short, so 3 are bought (leaving the demand
    # short rather than buying a third unit was cheaper under a shortfall penalty priced per TFLOPS)
    p = problem(
        [offer("h100", region=region, free=8, price=Decimal("20.00"))],
        [demand(resource_class=None, min_scu=Decimal("2000"), units=0, hours=hours, latest=hours + 10)],
    )
    for method in (schedule, greedy):
        s = method(p)
        (part,) = s.placements["demand:1"].parts
        assert part.units == 3
        assert s.placements["demand:1"].placed == Decimal("2967")
        assert violations(p, s) == []


@pytest.mark.parametrize("method", METHODS)
def test_a_buyer_is_never_placed_on_its_own_offer(method):
    p = problem([offer("mine", price=CHEAP, seller="org:7"), offer("theirs", seller="org:8")], [demand(buyer="org:7")])
    s = method(p)
    assert used(s) == {"theirs"}
    assert violations(p, s) == []
    assert any("own offer" in v for v in violations(p, forced(p, "demand:1", "mine", start=0, units=8)))
    # another buyer takes the cheaper one
    other = problem(
        [offer("mine", price=CHEAP, seller="org:7"), offer("theirs", seller="org:8")], [demand(buyer="org:9")]
    )
    assert used(method(other)) == {"mine"}
