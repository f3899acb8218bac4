"""What a retail reservation costs and holds (trading standard §6.1, §6.2, §7). Pure: no Django
import, exact decimals only; rounding only where the standard rounds (the per-time line amount)
and, for the per-volume hold, up to the fen so the hold covers the most the buyer can owe."""

from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

from catalog.pricing import CENT, round_half_up

MINUTE = timedelta(minutes=1)
PEAK_MULTIPLIER = Decimal("1.50")  # §7: the dearest time-of-use period


def minutes_started(duration: timedelta) -> int:
    """Whole minutes, a started minute counting whole: ``ceil(seconds / 60)`` without floats."""
    if duration <= timedelta(0):
        return 0
    return -(-duration // MINUTE)


def billable_minutes(*, used: timedelta, minimum_minutes: int) -> int:
    """§6.1 for retail: ``max(minimum_minutes, ceil(used_seconds / 60))``."""
    return max(minimum_minutes, minutes_started(used))


def per_time_amount(*, price: Decimal, units: int, minutes: int) -> Decimal:
    """§6.1: ``round_half_up(unit_price × units × billable_minutes / 60, 0.01)``."""
    return round_half_up(price * units * minutes / 60, CENT)


def per_volume_ceiling(*, price: Decimal, units: int, minutes: int) -> Decimal:
    """The most a per-volume reservation can cost for ``minutes``: every unit busy the whole
    time at the peak multiplier and no volume discount (§6.2, §7), rounded up to the fen."""
    exact = price * units * minutes * PEAK_MULTIPLIER / 60
    return exact.quantize(CENT, rounding=ROUND_CEILING)
