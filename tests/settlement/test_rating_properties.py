"""Property tests of the rating engine over random usage: it agrees with a deliberately naive
model (every record cut at every local hour, every slice walked through the tiers one by one,
slice amounts summed), its lines do not depend on the order of the records nor on how a record
is cut into consecutive parts, it conserves unit-hours, and no amount is ever negative."""

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settlement.rating import (
    PER_TIME,
    PER_VOLUME,
    VOLUME_TIERS,
    CaseError,
    Product,
    Reservation,
    UsageRecord,
    VolumeTier,
    VolumeUsage,
    case_loads,
    case_rate,
    instant_us,
    period_parse,
    rating_total,
    reference_meters,
    reference_tariffs,
    tariff_make,
    time_lines,
    volume_lines,
    volume_lines_from_blocks,
)

DATA = Path(__file__).resolve().parents[2] / "data"
EXAMPLES = DATA / "standards" / "examples"
TARIFFS = reference_tariffs(json.loads((DATA / "regions.json").read_text(encoding="utf-8")))
METERS = reference_meters(json.loads((DATA / "resource-classes.json").read_text(encoding="utf-8")))
HOUR = 3_600_000_000
SECOND = 1_000_000
PERIOD = period_parse("2026-12")
PERIOD_START, PERIOD_END = PERIOD.bounds_us()
# GS: valley 0-6, flat 7, peak 8-10, valley 11-15, flat 16, peak 17-20, flat 21-22, valley 23
KINDS = {"v": "valley", "f": "flat", "p": "peak"}
TARIFF = tariff_make(tou_by_local_hour=[KINDS[c] for c in "vvvvvvvfpppvvvvvfppppffv"])
PRODUCT = Product("A100-80G.GS.REMOTE.retail.volume", PER_VOLUME, Decimal("6.30"))
SMALL_TIERS = (
    VolumeTier(Decimal(0), Decimal("0.00")),
    VolumeTier(Decimal(2), Decimal("0.05")),
    VolumeTier(Decimal("7.5"), Decimal("0.10")),
)

quantities = st.one_of(
    st.integers(min_value=0, max_value=50_000_000),  # up to ~13,900 unit-hours: past both standard tiers
    st.integers(min_value=0, max_value=40_000),
    st.decimals(min_value=0, max_value=100_000, places=3),
)
# records near the period's start or its end, from a second to 30 hours long
records = st.builds(
    lambda base, offset, length, quantity: (base + offset * SECOND, base + (offset + length) * SECOND, quantity),
    st.sampled_from([PERIOD_START - 12 * HOUR, PERIOD_END - 36 * HOUR]),
    st.integers(min_value=0, max_value=48 * 3600),
    st.integers(min_value=1, max_value=30 * 3600),
    quantities,
)
tiers = st.sampled_from([VOLUME_TIERS, SMALL_TIERS])


def engine(rows, tier_table=VOLUME_TIERS):
    usage = VolumeUsage(tariff=TARIFF, period=PERIOD)
    usage.add_many(rows)
    return usage.lines(product=PRODUCT, tiers=tier_table)


def fen_half_up(value: Fraction) -> Decimal:
    """Independent of the engine's rounding: the non-negative value in fen, half-up."""
    fen = (value * 100 + Fraction(1, 2)).__floor__()
    return Decimal(fen) / 100


def shown_hours(value: Fraction) -> Decimal:
    return Decimal((value * 10**6 + Fraction(1, 2)).__floor__()) / 10**6


def naive(rows, tier_table=VOLUME_TIERS):
    """The standard read literally: cut every record at every local hour (so at every
    time-of-use and period boundary, and more), keep the slices inside the period, take them in
    order of their start, place each in the tier its cumulative unit-hours reach (cutting it at a
    tier bound), and sum each (kind, tier)'s slice amounts."""
    slices = []
    for start, end, quantity in rows:
        moment = start
        while moment < end:
            cut = min(end, (moment // HOUR + 1) * HOUR)
            if PERIOD_START <= moment < PERIOD_END:
                slices.append((moment, TARIFF.kind_at(moment), Fraction(quantity) * (cut - moment) / (end - start)))
            moment = cut
    slices.sort(key=lambda s: s[0])
    bounds = [Fraction(t.from_hours) for t in tier_table]
    cumulative, hours, amounts = Fraction(0), {}, {}
    for _, kind, quantity in slices:
        left = quantity / 3600
        while left > 0:
            tier = max(i for i, bound in enumerate(bounds) if cumulative >= bound)
            room = bounds[tier + 1] - cumulative if tier + 1 < len(bounds) else left
            piece = min(left, room)
            key = (kind, tier)
            hours[key] = hours.get(key, 0) + piece
            multiplier = Fraction(TARIFF.multipliers[kind])
            slice_amount = piece * Fraction(PRODUCT.list_price) * multiplier * (1 - Fraction(tier_table[tier].discount))
            amounts[key] = amounts.get(key, 0) + slice_amount
            cumulative += piece
            left -= piece
    return {
        (kind, tier_table[tier].discount, shown_hours(hours[kind, tier]), fen_half_up(amounts[kind, tier]))
        for kind, tier in hours
    }


def as_set(lines):
    return {(x.tou, x.discount, x.hours, x.amount) for x in lines}


@settings(max_examples=300, deadline=None)
@given(st.lists(records, max_size=25), tiers)
def test_the_engine_agrees_with_the_naive_model(rows, tier_table):
    assert as_set(engine(rows, tier_table)) == naive(rows, tier_table)


@settings(max_examples=200, deadline=None)
@given(st.lists(records, max_size=25), tiers, st.randoms(use_true_random=False))
def test_the_order_of_the_records_does_not_matter(rows, tier_table, rng):
    shuffled = list(rows)
    rng.shuffle(shuffled)
    assert engine(shuffled, tier_table) == engine(rows, tier_table)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(records, min_size=1, max_size=15),
    tiers,
    st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=4),
)
def test_cutting_a_record_into_consecutive_parts_with_proportional_quantities_changes_nothing(
    rows, tier_table, cut_points
):
    start, end, quantity = rows[0]
    inner = sorted({start + 1 + p % (end - start - 1) for p in cut_points} if end - start > 1 else set())
    edges = [start, *inner, end]
    parts = [(a, b, Fraction(quantity) * (b - a) / (end - start)) for a, b in zip(edges, edges[1:], strict=False)]
    assert engine(parts + rows[1:], tier_table) == engine(rows, tier_table)


def usage_record(index, row):
    start, end, quantity = row
    at = datetime(1970, 1, 1, tzinfo=UTC)
    return UsageRecord(
        f"r{index}",
        "gpu_seconds",
        Decimal(quantity),
        at + timedelta(microseconds=start),
        at + timedelta(microseconds=end),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(records, max_size=25), tiers, st.sampled_from([Decimal("0.06"), Decimal(0)]))
def test_no_amount_is_negative_and_unit_hours_are_conserved(rows, tier_table, tax_rate):
    lines = volume_lines(
        product=PRODUCT,
        records=[usage_record(i, row) for i, row in enumerate(rows)],
        tariff=TARIFF,
        period=PERIOD,
        tiers=tier_table,
    )
    rating = rating_total(lines=lines, tax_rate=tax_rate)
    assert all(x.amount >= 0 and x.hours >= 0 for x in lines)
    assert rating.subtotal >= 0 and rating.tax >= 0 and rating.total == rating.subtotal + rating.tax
    assert len({(x.tou, x.discount) for x in lines}) == len(lines)
    usage = VolumeUsage(tariff=TARIFF, period=PERIOD)
    usage.add_many(rows)
    in_period = sum(
        (
            Fraction(q) * (min(e, PERIOD_END) - max(s, PERIOD_START)) / (e - s)
            for s, e, q in rows
            if s < PERIOD_END and e > PERIOD_START
        ),
        Fraction(0),
    )
    assert sum((q for _, q in usage.blocks()), Fraction(0)) == in_period


fractional = st.builds(
    lambda base, offset, length, numerator, denominator: (
        base + offset * SECOND,
        base + (offset + length) * SECOND,
        Fraction(numerator, denominator),
    ),
    st.sampled_from([PERIOD_START - 12 * HOUR, PERIOD_END - 36 * HOUR]),
    st.integers(min_value=0, max_value=48 * 3600),
    st.integers(min_value=1, max_value=6),  # short records: most cut, with shares in thirds, fifths...
    st.integers(min_value=0, max_value=12_000_000),
    st.integers(min_value=1, max_value=7),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(records, fractional), max_size=25), tiers, st.sampled_from(["6.30", "36.00", "0.0072"]))
def test_rating_on_bounded_sums_gives_the_lines_of_the_exact_sums(rows, tier_table, price):
    """The fast path (block sums bounded at 10⁻⁴⁰) against the exact block sums."""
    product = Product(PRODUCT.code, PER_VOLUME, Decimal(price))
    usage = VolumeUsage(tariff=TARIFF, period=PERIOD)
    usage.add_many(rows)
    exact = volume_lines_from_blocks(product=product, blocks=usage.blocks(), tariff=TARIFF, tiers=tier_table)
    assert usage.lines(product=product, tiers=tier_table) == exact


reservations = st.builds(
    lambda ident, units, offset, length: Reservation(
        f"res-{ident}",
        units,
        PERIOD.start + timedelta(seconds=offset),
        PERIOD.start + timedelta(seconds=offset, microseconds=length),
    ),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=1, max_value=64),
    st.integers(min_value=-3 * 86400, max_value=34 * 86400),
    st.integers(min_value=1, max_value=3 * 86400 * SECOND),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(reservations, max_size=20, unique_by=lambda r: r.id),
    st.integers(min_value=0, max_value=240),
    st.decimals(min_value=0, max_value=100, places=4),
)
def test_per_time_lines_bill_at_least_the_used_minutes_and_never_a_negative_amount(booked, minimum, price):
    product = Product("H100-80G.YRD.MAIN.retail.time", PER_TIME, price, minimum)
    lines = time_lines(product=product, reservations=booked, period=PERIOD)
    starting = {r.id: r for r in booked if PERIOD.start <= r.start < PERIOD.end}
    assert {x.id for x in lines} == set(starting)
    for x in lines:
        used = instant_us(starting[x.id].end) - instant_us(starting[x.id].start)
        assert x.minutes >= minimum
        assert x.minutes * 60 * SECOND >= used  # every started minute is billed
        assert x.minutes == minimum or (x.minutes - 1) * 60 * SECOND < used  # and no more
        assert x.amount >= 0
        assert x.amount == fen_half_up(Fraction(price) * x.units * x.minutes / 60)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["", "1.5", "-1", "NaN", "1e30"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
EXAMPLE_CASES = [
    json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(EXAMPLES.glob("*.json"))
    if not path.name.endswith(".expected.json")
]


def mutate(case, path, value):
    """The case with the field at ``path`` (keys and indices, followed while they lead into
    a non-empty object or list) replaced by ``value``."""
    case = copy.deepcopy(case)
    node = case
    for step in path[:-1]:
        child = node[key_in(node, step)] if isinstance(node, list) else node.get(key_in(node, step))
        if not isinstance(child, dict | list) or not child:
            break
        node = child
    node[key_in(node, path[-1])] = value
    return case


def key_in(node, step):
    if isinstance(node, list):
        return step % len(node) if isinstance(step, int) else 0
    if isinstance(step, str):
        return step
    return sorted(node)[step % len(node)] if node else "x"


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(EXAMPLE_CASES),
    st.lists(st.sampled_from(["records", "reservations", "product", 0, 1, 2, 3, 4, "x"]), min_size=1, max_size=4),
    json_values,
)
def test_a_case_is_either_rated_or_refused_with_named_problems(case, path, value):
    """Whatever a field holds, reading a case answers a case or CaseError, never another error."""
    text = json.dumps(mutate(case, path, value))
    try:
        rating_case = case_loads(text, meters=METERS, regions=TARIFFS)
    except CaseError as exc:
        assert exc.problems and all(p.code for p in exc.problems)
        return
    case_rate(rating_case, tariff=TARIFFS[rating_case.region])
