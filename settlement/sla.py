"""Service levels (trading standard §12) as pure functions: no Django import.

Downtime comes from a pool's heartbeats: a pool silent for more than 3 minutes is down from its
last heartbeat until the next one. Availability of a delivery over an interval is the share of
unit-seconds that were up, over the pools that deliver it, weighted by the units each delivers.
"""

from bisect import bisect_right
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

SILENCE = timedelta(minutes=3)

COMMITMENT = {"MAIN": Decimal("0.999"), "EDGE": Decimal("0.995")}
DEFAULT_COMMITMENT = Decimal("0.990")
# (availability below, credit as a share of the month's charge), most severe first
CREDIT_STEPS = ((Decimal("0.950"), Decimal("1.00")), (Decimal("0.990"), Decimal("0.25")))
BASE_CREDIT = Decimal("0.10")


def down_seconds(
    beats: list[datetime], start: datetime, end: datetime, *, as_of: datetime, silence: timedelta = SILENCE
) -> Fraction:
    """Seconds of [start, end) during which the pool was down, as known at ``as_of``. ``beats``
    are the pool's heartbeat times in ascending order, up to ``as_of``; they should include the
    last one before ``start`` (without it the pool counts as down from ``start`` until its first
    heartbeat). After the last heartbeat the pool is down from it if it has been silent for more
    than ``silence`` by ``as_of``."""
    if end <= start:
        return Fraction(0)
    first = bisect_right(beats, start) - 1  # the last heartbeat at or before start
    down = Fraction(0)

    def add(a: datetime, b: datetime) -> None:
        nonlocal down
        lo, hi = max(a, start), min(b, end)
        if hi > lo:
            down += Fraction((hi - lo) // timedelta(microseconds=1), 1_000_000)

    if first < 0:
        if not beats or beats[0] >= end:
            return Fraction((end - start) // timedelta(microseconds=1), 1_000_000)
        add(start, beats[0])
        first = 0
    for previous, following in zip(beats[first:], beats[first + 1 :], strict=False):
        if previous >= end:
            break
        if following - previous > silence:
            add(previous, following)
    last = beats[-1]
    if as_of - last > silence:
        add(last, end)
    return down


def availability(parts: list[tuple[int, Fraction]], seconds: int) -> Fraction:
    """Availability of a delivery: ``parts`` are (units, down seconds) per pool that delivers it,
    over ``seconds`` of delivery time."""
    total = sum(units for units, _ in parts) * seconds
    if total == 0:
        return Fraction(1)
    return 1 - sum(units * down for units, down in parts) / total


def credit_rate(available: Fraction, tier: str) -> Decimal:
    """The share of the month's charge credited for a delivery with this availability (§12)."""
    if available >= Fraction(COMMITMENT.get(tier, DEFAULT_COMMITMENT)):
        return Decimal("0.00")
    for below, rate in CREDIT_STEPS:
        if available < Fraction(below):
            return rate
    return BASE_CREDIT
