"""Per-volume charges (trading standard §6.2) at the time-of-use rates (§7).

Two steps, so the invoice code can stream a month of records through the first and keep only
its small result:

1. ``VolumeUsage`` cuts each record at the period's bounds and at the edges of time-of-use
   *blocks* and adds each slice's exact share of the quantity to its block. A block is a run of
   local hours of one period kind within one local day (a day of the "vvvvvvvfppp…" tariff has
   six or so); blocks never cross local midnight, so the period's bounds (local midnights) are
   block edges too. Instants are integer microseconds; a record inside one block (the usual
   case) costs a few integer operations, and a share is only a fraction when a cut record's
   quantity is not a whole multiple of its length.
2. ``volume_lines_from_blocks`` walks the blocks in time order through the cumulative
   unit-hour tiers, cutting a block at a tier boundary, and sums the pieces by (period kind,
   tier) into lines.

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
from settlement.rating.lines import VolumeLine, round_half_up

UNIT_SECONDS_PER_HOUR = 3600


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
        at the period's bounds, and only its slices inside the period count."""
        whole, parts, runs, cut = self._whole, self._parts, self._runs, self._add_cut
        period_start, period_end = self._start, self._end
        for start, end, quantity in rows:
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
            if start >= period_start and end <= midnight + run_end:  # the record lies in one block
                if denominator == 1:
                    whole[midnight + run_start] += numerator
                else:
                    parts[midnight + run_start, denominator] += numerator
            else:
                cut(start, end, numerator, denominator)

    def _add_cut(self, start: int, end: int, numerator: int, denominator: int) -> None:
        """A record over more than one block, or over a period bound: each slice inside the
        period gets ``quantity × slice length / record length``."""
        whole, parts, runs = self._whole, self._parts, self._runs
        per = denominator * (end - start)
        moment, stop = max(start, self._start), min(end, self._end)
        while moment < stop:
            into_day = (moment + LOCAL_OFFSET_US) % DAY_US
            run_start, run_end = runs[into_day // HOUR_US]
            midnight = moment - into_day
            slice_end = min(stop, midnight + run_end)
            share = numerator * (slice_end - moment)
            common = gcd(share, per)
            if common == per:
                whole[midnight + run_start] += share // per
            else:
                parts[midnight + run_start, per // common] += share // common
            moment = slice_end

    def merge(self, other: "VolumeUsage") -> None:
        """Add another usage of the same tariff and period into this one."""
        if other.tariff != self.tariff or other.period != self.period:
            raise ValueError("only usages of one tariff and one period merge")
        for key, value in other._whole.items():
            self._whole[key] += value
        for key, value in other._parts.items():
            self._parts[key] += value

    def blocks(self) -> list[tuple[int, Fraction]]:
        """``(block start µs, exact unit-seconds)`` in time order, empty blocks left out."""
        totals: dict[int, Fraction] = {start: Fraction(value) for start, value in self._whole.items()}
        by_block: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
        for (start, denominator), numerator in self._parts.items():
            by_block[start].append((numerator, denominator))
        for start, terms in by_block.items():
            totals[start] = totals.get(start, Fraction(0)) + fraction_sum(terms)
        return sorted((start, total) for start, total in totals.items() if total)

    def lines(self, *, product: Product, tiers: tuple[VolumeTier, ...] = VOLUME_TIERS) -> list[VolumeLine]:
        return volume_lines_from_blocks(product=product, blocks=self.blocks(), tariff=self.tariff, tiers=tiers)


def fraction_sum(terms: Iterable[tuple[int, int]]) -> Fraction:
    """The exact sum of ``numerator / denominator`` terms: terms of one denominator are added as
    integers first, then the few sums are added pairwise as a balanced tree, so denominators
    grow as slowly as they can."""
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


def volume_lines_from_blocks(
    *,
    product: Product,
    blocks: Iterable[tuple[int, int | Decimal | Fraction]],
    tariff: Tariff,
    tiers: tuple[VolumeTier, ...] = VOLUME_TIERS,
) -> list[VolumeLine]:
    """Rate pre-sliced usage: ``blocks`` are ``(start µs, unit-seconds)`` of one product in one
    period, each the exact sum of slices lying in one interval of time of one period kind (a
    ``VolumeUsage`` block, or a finer interval such as a local hour); blocks with one start are
    added together. Walks them in time order through the cumulative tiers, cutting a block where
    the cumulative unit-hours reach a tier's bound, and makes one line per (period kind, tier)
    that received unit-hours: ``amount = half-up(Σ hours × list price × multiplier × (1 −
    discount))``, ordered by kind, then tier."""
    if product.billing != PER_VOLUME:
        raise ValueError(f"{product.code} is billed {product.billing}, not per volume")
    if not tiers or tiers[0].from_hours != 0 or any(a.from_hours >= b.from_hours for a, b in pairwise(tiers)):
        raise ValueError("tiers start at 0 unit-hours and rise")
    by_start: dict[int, Fraction] = {}
    for start, quantity in blocks:
        quantity = Fraction(quantity)
        if quantity < 0:
            raise ValueError("no block has a negative quantity")
        by_start[start] = by_start.get(start, Fraction(0)) + quantity
    # tier bounds in unit-seconds: tier i holds cumulative [bounds[i], bounds[i + 1])
    uppers = [Fraction(t.from_hours) * UNIT_SECONDS_PER_HOUR for t in tiers[1:]]
    received: defaultdict[tuple[str, int], Fraction] = defaultdict(Fraction)
    cumulative, tier = Fraction(0), 0
    for start in sorted(by_start):
        left, kind = by_start[start], tariff.kind_at(start)
        while left:
            while tier < len(uppers) and cumulative >= uppers[tier]:
                tier += 1
            room = uppers[tier] - cumulative if tier < len(uppers) else left
            taken = left if left <= room else room
            received[kind, tier] += taken
            cumulative += taken
            left -= taken
    price = Fraction(product.list_price)
    lines = []
    for kind, tier in sorted(received):
        hours = received[kind, tier] / UNIT_SECONDS_PER_HOUR
        discount = tiers[tier].discount
        exact = hours * price * Fraction(tariff.multipliers[kind]) * (1 - Fraction(discount))
        lines.append(VolumeLine(product.code, kind, discount, hours, round_half_up(exact, 2)))
    return lines


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
