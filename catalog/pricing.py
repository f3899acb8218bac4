"""Cost accounting and the reference price (trading standard §8), and the standard's rounding
(§1). Pure: no Django import, exact decimals only."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

HOURS_PER_YEAR = Decimal(8760)
DEPRECIATION_YEARS = Decimal(5)
TARGET_UTILISATION = Decimal("0.70")
REFERENCE_MARKUP = Decimal("1.15")
CENT = Decimal("0.01")


def round_half_up(value: Decimal, quantum: Decimal) -> Decimal:
    """Round to a multiple of ``quantum`` half-up (四舍五入): ties away from zero, also for negatives.

    The result carries the quantum's own places (a tick stored as 0.0100 rounds to 0.01), and a
    quantum that is not a power of ten (a tick of 0.05) rounds to its multiples.
    """
    if quantum is CENT:  # the fen, rounded per trade by matching: one quantize, the same result
        return value.quantize(CENT, rounding=ROUND_HALF_UP)
    step = quantum.normalize()
    units = (value / step).to_integral_value(rounding=ROUND_HALF_UP)
    return (units * step).quantize(step)


@dataclass(frozen=True)
class CostBreakdown:
    capex_per_hour: Decimal
    power_per_hour: Decimal
    opex_per_hour: Decimal

    @property
    def cost(self) -> Decimal:
        return self.capex_per_hour + self.power_per_hour + self.opex_per_hour


def cost_per_unit_hour(
    *,
    unit_capex: Decimal,
    unit_power_kw: Decimal,
    pue: Decimal,
    flat_price_per_kwh: Decimal,
    opex_per_hour: Decimal,
) -> CostBreakdown:
    """The cost of one unit-hour of a class in a region, unrounded (§8)."""
    return CostBreakdown(
        capex_per_hour=unit_capex / (DEPRECIATION_YEARS * HOURS_PER_YEAR * TARGET_UTILISATION),
        power_per_hour=unit_power_kw * pue * flat_price_per_kwh,
        opex_per_hour=opex_per_hour,
    )


def reference_price(cost: Decimal, tick: Decimal) -> Decimal:
    """``round_half_up(cost × 1.15, tick)`` (§8)."""
    return round_half_up(cost * REFERENCE_MARKUP, tick)


def price_per_scu(price_per_unit_hour: Decimal, fp16_tflops: Decimal | None) -> Decimal | None:
    """What one SCU costs at a unit-hour price (unrounded); None for classes without SCU."""
    if not fp16_tflops:
        return None
    return price_per_unit_hour / Decimal(fp16_tflops)
