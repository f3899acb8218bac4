"""Trading standard §8 (reference price) and §1 (rounding), on the pure functions."""

from decimal import ROUND_DOWN, Decimal

from hypothesis import given
from hypothesis import strategies as st

from catalog.pricing import CENT, cost_per_unit_hour, price_per_scu, reference_price, round_half_up


def test_worked_example_3():
    cost = cost_per_unit_hour(
        unit_capex=Decimal("250000"),
        unit_power_kw=Decimal("1.275"),
        pue=Decimal("1.25"),
        flat_price_per_kwh=Decimal("0.65"),
        opex_per_hour=Decimal("0.80"),
    )

    # The standard prints these truncated ("8.153946…"): compare the same digits.
    def digits(value):
        return value.quantize(Decimal("0.000001"), rounding=ROUND_DOWN)

    assert digits(cost.capex_per_hour) == Decimal("8.153946")
    assert cost.power_per_hour == Decimal("1.0359375")
    assert digits(cost.cost) == Decimal("9.989884")
    assert digits(cost.cost * Decimal("1.15")) == Decimal("11.488366")
    assert reference_price(cost.cost, Decimal("0.01")) == Decimal("11.49")


def test_reference_price_rounds_half_up_on_the_tick():
    # cost × 1.15 = 0.00005 exactly at a 0.0001 tick → half-up to 0.0001, not to even (0.0000)
    assert reference_price(Decimal("0.00005") / Decimal("1.15"), Decimal("0.0001")) == Decimal("0.0001")
    assert reference_price(Decimal("10"), Decimal("0.01")) == Decimal("11.50")


def test_round_half_up_is_away_from_zero_for_negatives():
    assert round_half_up(Decimal("-2.345"), Decimal("0.01")) == Decimal("-2.35")
    assert round_half_up(Decimal("2.345"), Decimal("0.01")) == Decimal("2.35")
    assert round_half_up(Decimal("2.344999"), Decimal("0.01")) == Decimal("2.34")


def test_price_per_scu():
    assert price_per_scu(Decimal("11.49"), Decimal("989")) == Decimal("11.49") / Decimal("989")
    assert price_per_scu(Decimal("0.05"), None) is None


costs = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=8, allow_nan=False)
ticks = st.sampled_from([Decimal("0.01"), Decimal("0.0001")])


@given(costs, ticks)
def test_reference_price_is_on_tick_and_within_half_a_tick(cost, tick):
    price = reference_price(cost, tick)
    assert price % tick == 0
    assert abs(price - cost * Decimal("1.15")) <= tick / 2


@given(costs, costs, ticks)
def test_reference_price_is_monotone_in_cost(a, b, tick):
    lo, hi = sorted([a, b])
    assert reference_price(lo, tick) <= reference_price(hi, tick)


amounts = st.decimals(min_value=Decimal("-1e14"), max_value=Decimal("1e14"), places=6, allow_nan=False)


@given(amounts)
def test_rounding_to_the_fen_by_quantize_equals_the_general_rounding(value):
    """round_half_up's fast path for CENT (one quantize) gives what the general path gives for an
    equal quantum that is not the CENT object: the same value and the same two places."""
    fast, general = round_half_up(value, CENT), round_half_up(value, Decimal("0.010"))
    assert fast == general
    assert fast.as_tuple().exponent == general.as_tuple().exponent == -2
