"""A round large enough for column generation and LP rounding (more than FULL_COLUMNS candidate
columns), on the benchmark's generated market with the real regional tariffs."""

from bench.schedmarket import market
from marketplace.scheduling import greedy, schedule, violations
from marketplace.scheduling.solver import FULL_COLUMNS


def test_large_round_is_valid_close_to_its_bound_and_cheaper_than_greedy():
    p = market(seed=2, pools=100, demands=150)
    s = schedule(p, time_limit=30.0)
    g = greedy(p)
    assert s.method == "milp"
    assert violations(p, s) == []
    assert violations(p, g) == []
    assert s.lower_bound is not None
    assert s.lower_bound <= s.total <= s.lower_bound * 101 / 100
    assert s.total < g.total
    # both place whole the demands that have an eligible offer
    assert [k for k, pl in s.placements.items() if pl.placed < pl.requested] == [
        k for k, pl in g.placements.items() if pl.placed < pl.requested
    ]


def test_the_large_round_really_is_large():
    from marketplace.scheduling.columns import Market

    p = market(seed=2, pools=100, demands=150)
    m = Market(p)
    assert sum(len(c.cost) for c in (m.candidates(i, d) for i, d in enumerate(p.demands)) if c is not None) > (
        FULL_COLUMNS
    )
