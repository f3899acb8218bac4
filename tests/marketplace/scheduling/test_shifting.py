"""Valley-hour shifting and western placement happen exactly when they are cheaper under the
tariffs: each case checks the chosen start or region against a brute force over every
single-offer placement, with the exact costs."""

from datetime import timedelta
from decimal import Decimal

import pytest

from marketplace.scheduling import greedy, schedule, violations
from marketplace.scheduling.costing import local_hours, part_make
from tests.marketplace.scheduling.build import REGIONS, START, demand, offer, problem

VALLEY = {h for h, kind in enumerate(REGIONS["YRD"]["tou_by_local_hour"]) if kind == "valley"}


def brute(p, d):
    """The cheapest (total, start, offer) over single-offer placements, earliest start on ties."""
    local = local_hours(problem=p)
    best = None
    for o in p.offers:
        for s in range(p.hours - d.hours + 1):
            at = START + timedelta(hours=s)
            if at < d.earliest_start or at + timedelta(hours=d.hours) > d.latest_finish:
                continue
            part = part_make(problem=p, demand=d, offer=o, start=s, units=d.units, local=local)
            total = part.price_cost + part.energy_cost + part.carbon_cost
            key = (total, s, o.key)
            best = key if best is None or key < best else best
    return best


def only_part(p):
    s = schedule(p)
    assert s.method == "milp"
    assert violations(p, s) == []
    (part,) = s.placements["demand:1"].parts
    return s, part


@pytest.mark.parametrize("billing", ["per_time", "per_volume"])
def test_shifts_into_the_valley_when_the_window_allows(billing):
    # local 09:00 to the next day 09:00: the valley (23:00-07:00) is inside the window
    p = problem([offer("a", billing=billing)], [demand(hours=4, earliest=9, latest=33)])
    s, part = only_part(p)
    local_start = (9 + (part.start - START - timedelta(hours=9)).total_seconds() // 3600) % 24
    assert local_start in VALLEY and (local_start + 3) % 24 in VALLEY
    total, start, _ = brute(p, p.demands[0])
    assert part.start == START + timedelta(hours=start)
    assert s.total == total
    assert greedy(p).total > s.total  # the baseline starts at 09:00, in the peak


def test_no_valley_in_the_window_takes_the_cheapest_hours_inside_it():
    # local 08:00-16:00 (peak 08-10, flat 11-16): the 4 hours run in the flat hours 11-15, not the peak
    p = problem([offer("a", billing="per_volume")], [demand(hours=4, earliest=8, latest=16)])
    _, part = only_part(p)
    assert part.start == START + timedelta(hours=11)
    assert part.end == START + timedelta(hours=15)


def test_no_shift_when_nothing_is_saved():
    # per-time price, no power price, no carbon weight: every start costs the same, so the job starts
    # at its earliest hour
    p = problem([offer("a", power_price=Decimal(0))], [demand(hours=4, earliest=9, latest=33)])
    _, part = only_part(p)
    assert part.start == START + timedelta(hours=9)


def western_case(*, max_rtt_ms=None, carbon_weight=Decimal(0)):
    # a Guangzhou buyer; GBA (east, 0.70 CNY/kWh, 0.53 kg/kWh) against NMG (western hub, 0.30, 0.85 coal-heavy)
    return problem(
        [offer("gba", region="GBA"), offer("nmg", region="NMG")],
        # local 21:00-23:00: flat hours in both regions, so the comparison is of power price and carbon alone
        [demand(hours=2, city="GZ", max_rtt_ms=max_rtt_ms, carbon_weight=carbon_weight, earliest=21, latest=23)],
    )


def test_western_hub_when_its_power_is_cheaper():
    p = western_case()
    s, part = only_part(p)
    assert part.offer == "nmg"
    assert (s.total, part.offer) == (brute(p, p.demands[0])[0], brute(p, p.demands[0])[2])


def test_tight_latency_ceiling_forbids_the_western_hub():
    p = western_case(max_rtt_ms=20)  # NMG is 45 ms from Guangzhou, GBA 3
    _, part = only_part(p)
    assert part.offer == "gba"


def test_carbon_weight_flips_the_choice_exactly_at_the_break_even():
    # per unit-hour NMG saves 1.275 × (1.28 × 0.70 − 1.15 × 0.30) = 0.702525 CNY of power (flat hours)
    # and emits 1.275 × (1.15 × 0.85 − 1.28 × 0.53) = 0.381352 kg more: break-even at 1.8422... CNY/kg
    saving = Decimal("1.275") * (Decimal("1.28") * Decimal("0.70") - Decimal("1.15") * Decimal("0.30"))
    extra = Decimal("1.275") * (Decimal("1.15") * Decimal("0.85") - Decimal("1.28") * Decimal("0.53"))
    even = saving / extra
    below, above = even - Decimal("0.01"), even + Decimal("0.01")
    for weight, region in ((Decimal(0), "nmg"), (below, "nmg"), (above, "gba"), (Decimal(5), "gba")):
        p = western_case(carbon_weight=weight)
        _, part = only_part(p)
        assert part.offer == region, weight
        assert brute(p, p.demands[0])[2] == region
