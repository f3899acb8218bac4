"""What a retail reservation costs and holds (trading standard §6.1, §6.2, §7). Pure: no Django
import, exact decimals only. The per-time rule is the rating engine's (one implementation for the
quote, the hold and the invoice); per-volume, the hold is rounded up to the fen so it covers the
most the buyer can owe."""

from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

from catalog.pricing import CENT
from settlement.rating.per_time import time_minutes

PEAK_MULTIPLIER = Decimal("1.50")  # §7: the dearest time-of-use period
_ONE_US = timedelta(microseconds=1)


def billable_minutes(*, used: timedelta, minimum_minutes: int = 0) -> int:
    """§6.1 for retail: ``max(minimum_minutes, ceil(used_seconds / 60))``, a started minute
    counting whole (with no minimum: the minutes started, 0 for no time)."""
    return time_minutes(start_us=0, end_us=used // _ONE_US, minimum_minutes=minimum_minutes)


def per_volume_ceiling(*, price: Decimal, units: int, minutes: int) -> Decimal:
    """The most a per-volume reservation can cost for ``minutes``: every unit busy the whole
    time at the peak multiplier and no volume discount (§6.2, §7), rounded up to the fen."""
    exact = price * units * minutes * PEAK_MULTIPLIER / 60
    return exact.quantize(CENT, rounding=ROUND_CEILING)
