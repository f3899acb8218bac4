"""Per-volume charges (trading standard §6.2) at the time-of-use rates (§7).

Two steps, so the invoice code can stream a month of records through the first and keep only
its small result:

1. ``VolumeUsage`` cuts each record at the period's bounds and at the edges of time-of-use
   *blocks* and adds each slice's exact share of the quantity to its block. A block is a run of
   local hours of one period kind within one local day (a day of the GS tariff has eight);
   blocks never cross local midnight, so the period's bounds (local midnights) are block edges
   too. Instants are integer microseconds; a record inside one block (the usual
   case) costs a few integer operations, and a share is only a fraction when a cut record's
   quantity is not a whole multiple of its length.
2. ``VolumeUsage.lines`` (or ``volume_lines_from_blocks``, for block sums made elsewhere)
   walks the blocks in time order through the cumulative unit-hour tiers, cutting a block at a
   tier boundary, and sums the pieces by (period kind, tier) into lines.

Exact without the cost of exact: a block's sum of shares with many different denominators is a
fraction with thousands of digits. ``VolumeUsage.lines`` first rates on each block's sum bounded
between two integers at a fixed point of 10⁻⁴⁰ unit-seconds, carrying the bounds through the
tier walk and into each line: when both bounds give the same tier cuts, shown hours and amounts,
so does the exact sum between them. Only when a bound straddles an edge (in practice: an exact
sum lying exactly on a tier bound or a half fen) does it rate on the exact fractions.

Why blocks suffice: slices are taken in order of their start instant, and every slice lies
inside one block, so all slices of an earlier block come before all slices of a later one; a
block's slices share one period kind, so however they are ordered among themselves (the standard
lets slices with one start go in any order), the unit-hours each tier receives from the block,
and so every line, are the same. The same holds for any finer partition of time into intervals
of one kind (whole hours, say), which ``volume_lines_from_blocks`` accepts as well.
"""

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from math import gcd

from settlement.rating.inputs import (
    DAY_US,
    HOUR_US,
    LOCAL_OFFSET_US,
    PER_VOLUME,
    VOLUME_TIERS,
    Period,
    Product,
    Tariff,
    UsageRecord,
    VolumeTier,
)
from settlement.rating.lines import HOURS_PLACES, VolumeLine, round_half_up

UNIT_SECONDS_PER_HOUR = 3600
SCALE = 10**40  # the fixed point of VolumeUsage.bounded_blocks, in unit-seconds


def _day_runs(kinds: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """For each local hour, the (start, end) of the run of hours of its kind around it, in
    microseconds after local midnight; runs end at midnight."""
    runs: list[tuple[int, int]] = []
    hour = 0
    while hour < 24:
        end = hour
        while end < 24 and kinds[end] == kinds[hour]:
            end += 1
        runs.extend([(hour * HOUR_US, end * HOUR_US)] * (end - hour))
        hour = end
    return tuple(runs)


class VolumeUsage:
    """One product's metered use in one billing period, summed exactly by time-of-use block.

    Feed it ``(start µs, end µs, quantity)`` rows (``add``/``add_many``; the quantity in
    unit-seconds as an int, Decimal or Fraction), in any order and in as many calls as you like;
    two usages of the same tariff and period can be ``merge``d. Records are not deduplicated
    here: give each record once (``records_check`` does that for a case).
    """

    __slots__ = ("_end", "_parts", "_runs", "_start", "_whole", "period", "tariff")

    def __init__(self, *, tariff: Tariff, period: Period):
        self.tariff = tariff
        self.period = period
        self._start, self._end = period.bounds_us()
        self._runs = _day_runs(tariff.kinds)
        self._whole: defaultdict[int, int] = defaultdict(int)  # block start → whole unit-seconds
        self._parts: defaultdict[tuple[int, int], int] = defaultdict(int)  # (block, denominator) → numerator

    def add(self, start_us: int, end_us: int, quantity: int | Decimal | Fraction) -> None:
        self.add_many(((start_us, end_us, quantity),))

    def add_many(self, rows: Iterable[tuple[int, int, int | Decimal | Fraction]]) -> None:
        """Add records given as ``(start µs, end µs, quantity)``; each is cut at block edges and
        at the period's bounds, and only its slices inside the period count, each with
        ``quantity × slice length / record length``."""
        whole, parts, runs = self._whole, self._parts, self._runs
        period_start, period_end = self._start, self._end
        for start, end, quantity in rows:  # the hot loop: integers, locals, no calls on the usual path
            if quantity.__class__ is int:
                numerator, denominator = quantity, 1
            else:
                numerator, denominator = quantity.as_integer_ratio()  # exact for Decimal and Fraction
            if end <= start or numerator < 0:
                raise ValueError(f"a record ends after it starts and has no negative quantity: {start, end, quantity}")
            if end <= period_start or start >= period_end:
                continue
            into_day = (start + LOCAL_OFFSET_US) % DAY_US
            run_start, run_end = runs[into_day // HOUR_US]
            midnight = start - into_day
            if end <= midnight + run_end and start >= period_start:  # the record lies in one block
                if denominator == 1:
                    whole[midnight + run_start] += numerator
                else:
                    parts[midnight + run_start, denominator] += numerator
                continue
            # cut: the slices inside the period, block by block
            per = denominator * (end - start)
            if start < period_start:
                start = period_start
                into_day = (start + LOCAL_OFFSET_US) % DAY_US
                run_start, run_end = runs[into_day // HOUR_US]
                midnight = start - into_day
            if end > period_end:
                end = period_end
            while True:
                slice_end = midnight + run_end
                if slice_end > end:
                    slice_end = end
                share = numerator * (slice_end - start)
                if share % per:
                    common = gcd(share, per)
                    parts[midnight + run_start, per // common] += share // common
                else:
                    whole[midnight + run_start] += share // per
                if slice_end == end:
                    break
                start = slice_end
                into_day = (start + LOCAL_OFFSET_US) % DAY_US
                run_start, run_end = runs[into_day // HOUR_US]
                midnight = start - into_day

    def merge(self, other: "VolumeUsage") -> None:
        """Add another usage of the same tariff and period into this one."""
        if other.tariff != self.tariff or other.period != self.period:
            raise ValueError("only usages of one tariff and one period merge")
        for key, value in other._whole.items():
            self._whole[key] += value
        for key, value in other._parts.items():
            self._parts[key] += value

    def blocks(self) -> list[tuple[int, Fraction]]:
        """``(block start µs, exact unit-seconds)`` in time order, empty blocks left out. Exact
        sums of many shares with different denominators can have thousands of digits: ``lines``
        avoids them when it can."""
        totals: dict[int, Fraction] = {start: Fraction(value) for start, value in self._whole.items()}
        by_block: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
        for (start, denominator), numerator in self._parts.items():
            by_block[start].append((numerator, denominator))
        for start, terms in by_block.items():
            totals[start] = totals.get(start, Fraction(0)) + fraction_sum(terms)
        return sorted((start, total) for start, total in totals.items() if total)

    def bounded_blocks(self) -> list[tuple[int, int, int]]:
        """``(block start µs, low, high)`` in time order: each block's exact unit-seconds × SCALE
        lies in [low, high], both integers; ``low == high`` when every share was whole at that
        scale, and ``high > 0`` only when the block holds some use."""
        low: defaultdict[int, int] = defaultdict(int)
        slack: defaultdict[int, int] = defaultdict(int)
        for start, value in self._whole.items():
            low[start] += value * SCALE
        for (start, denominator), numerator in self._parts.items():
            quotient, remainder = divmod(numerator * SCALE, denominator)
            low[start] += quotient
            if remainder:
                slack[start] += 1
        return sorted((start, value, value + slack[start]) for start, value in low.items() if value + slack[start])

    def lines(self, *, product: Product, tiers: tuple[VolumeTier, ...] = VOLUME_TIERS) -> list[VolumeLine]:
        """The usage's lines, equal to those of the exact block sums: rated on the bounded sums
        when they settle every tier cut, shown hours and amount, else on the exact ones."""
        lines = _lines(product, self.bounded_blocks(), tariff=self.tariff, tiers=tiers, unit=SCALE)
        if lines is None:
            exact = [(start, total, total) for start, total in self.blocks()]
            lines = _lines(product, exact, tariff=self.tariff, tiers=tiers, unit=1)
        return lines


def fraction_sum(terms: Iterable[tuple[int, int]]) -> Fraction:
    """The exact sum of ``numerator / denominator`` terms: terms of one denominator are added as
    integers first, then the sums pairwise as a balanced tree, so denominators grow as slowly as
    they can."""
    by_denominator: defaultdict[int, int] = defaultdict(int)
    for numerator, denominator in terms:
        by_denominator[denominator] += numerator
    values = [Fraction(n, d) for d, n in by_denominator.items()]
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            pairs.append(values[-1])
        values = pairs
    return values[0] if values else Fraction(0)


def _tiers_check(tiers: tuple[VolumeTier, ...]) -> None:
    if not tiers or tiers[0].from_hours != 0 or any(a.from_hours >= b.from_hours for a, b in pairwise(tiers)):
        raise ValueError("tiers start at 0 unit-hours and rise")


def _walk(blocks, *, tariff: Tariff, tiers: tuple[VolumeTier, ...], unit) -> dict | None:
    """Take ``(start, low, high)`` blocks in time order through the cumulative tiers, cutting a
    block where the cumulative reaches a tier's bound: ``{(kind, tier): (low, high)}``, the
    unit-seconds × ``unit`` each line receives. Exact values have ``low == high``; with bounds,
    None when a tier cut cannot be told for certain."""
    uppers = [Fraction(t.from_hours) * UNIT_SECONDS_PER_HOUR * unit for t in tiers[1:]]
    if unit != 1 and any(u.denominator != 1 for u in uppers):
        return None  # a bound off the fixed point: rate exactly
    received: dict[tuple[str, int], tuple] = {}
    low_sum = high_sum = 0  # the cumulative, bounded
    tier, last = 0, len(uppers)
    for start, low, high in blocks:
        kind = tariff.kind_at(start)
        while high:
            while tier < last and low_sum >= uppers[tier]:
                tier += 1
            if tier < last and high_sum >= uppers[tier]:
                return None  # the cumulative may or may not have reached the bound
            if tier == last or high <= uppers[tier] - high_sum:  # all of it in this tier
                taken_low, taken_high, low, high = low, high, 0, 0
                low_sum, high_sum = low_sum + taken_low, high_sum + taken_high
            elif low > uppers[tier] - low_sum:  # past the bound for certain: cut there
                taken_low, taken_high = uppers[tier] - high_sum, uppers[tier] - low_sum
                low, high = low - taken_high, high - taken_low
                low_sum = high_sum = uppers[tier]  # the cumulative is now exactly the bound
            else:
                return None
            got_low, got_high = received.get((kind, tier), (0, 0))
            received[kind, tier] = (got_low + taken_low, got_high + taken_high)
    return received


def _lines(product: Product, blocks, *, tariff: Tariff, tiers: tuple[VolumeTier, ...], unit) -> list[VolumeLine] | None:
    """The lines of bounded or exact blocks, or None if a bound leaves a line's tier, shown
    hours or amount uncertain. ``amount = half-up(Σ hours × list price × multiplier × (1 −
    discount))``, hours shown half-up to 6 places; ordered by kind, then tier."""
    if product.billing != PER_VOLUME:
        raise ValueError(f"{product.code} is billed {product.billing}, not per volume")
    _tiers_check(tiers)
    received = _walk(blocks, tariff=tariff, tiers=tiers, unit=unit)
    if received is None:
        return None
    price = Fraction(product.list_price)
    lines = []
    for kind, tier in sorted(received):
        discount = tiers[tier].discount
        rate = price * Fraction(tariff.multipliers[kind]) * (1 - Fraction(discount))
        shown = set()
        for bound in set(received[kind, tier]):
            hours = Fraction(bound) / (UNIT_SECONDS_PER_HOUR * unit)
            shown.add((round_half_up(hours, HOURS_PLACES), round_half_up(hours * rate, 2)))
        if len(shown) != 1:
            return None
        ((hours, amount),) = shown
        lines.append(VolumeLine(product.code, kind, discount, hours, amount))
    return lines


def volume_lines_from_blocks(
    *,
    product: Product,
    blocks: Iterable[tuple[int, int | Decimal | Fraction]],
    tariff: Tariff,
    tiers: tuple[VolumeTier, ...] = VOLUME_TIERS,
) -> list[VolumeLine]:
    """Rate pre-sliced usage: ``blocks`` are ``(start µs, unit-seconds)`` of one product in one
    period, each the exact sum of the slices lying in one interval of time of one period kind,
    the intervals not overlapping (``VolumeUsage`` blocks, or all local hours, say); pairs with
    one start are added together. Walks them in time order through the cumulative tiers, cutting a block where
    the cumulative unit-hours reach a tier's bound, and makes one line per (period kind, tier)
    that received unit-hours: ``amount = half-up(Σ hours × list price × multiplier × (1 −
    discount))``, ordered by kind, then tier."""
    by_start: dict[int, Fraction] = {}
    for start, quantity in blocks:
        quantity = Fraction(quantity)
        if quantity < 0:
            raise ValueError("no block has a negative quantity")
        by_start[start] = by_start.get(start, Fraction(0)) + quantity
    exact = [(start, by_start[start], by_start[start]) for start in sorted(by_start) if by_start[start]]
    return _lines(product, exact, tariff=tariff, tiers=tiers, unit=1)


def volume_lines(
    *,
    product: Product,
    records: Iterable[UsageRecord],
    tariff: Tariff,
    period: Period,
    tiers: tuple[VolumeTier, ...] = VOLUME_TIERS,
) -> list[VolumeLine]:
    """The lines of one product's usage records in one period (each record given once)."""
    usage = VolumeUsage(tariff=tariff, period=period)
    usage.add_many(record.row() for record in records)
    return usage.lines(product=product, tiers=tiers)
