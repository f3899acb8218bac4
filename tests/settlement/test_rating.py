"""The rating engine (trading standard §6, §7, §11, Appendix A): the worked cases through the
``rate`` command, the §13 examples, the boundaries (midnight, month, time of use, tiers, the
per-time minimum, the period), the case file's checks, and writing a case back."""

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from catalog.models import Region
from settlement.rating import (
    LOCAL,
    PER_TIME,
    PER_VOLUME,
    CaseError,
    Period,
    Product,
    RatingCase,
    Reservation,
    TimeLine,
    UsageRecord,
    VolumeUsage,
    case_dumps,
    case_loads,
    case_rate,
    instant_us,
    period_parse,
    rating_json,
    rating_total,
    records_check,
    reference_meters,
    reference_tariffs,
    time_line,
    time_lines,
    volume_lines,
    volume_lines_from_blocks,
)

ROOT = Path(settings.BASE_DIR)
DATA = ROOT / "data"
EXAMPLES = DATA / "standards" / "examples"
CASES = sorted(p for p in EXAMPLES.glob("*.json") if not p.name.endswith(".expected.json"))
TARIFFS = reference_tariffs(json.loads((DATA / "regions.json").read_text(encoding="utf-8")))
METERS = reference_meters(json.loads((DATA / "resource-classes.json").read_text(encoding="utf-8")))
DECEMBER = period_parse("2026-12")
GPU = "A100-80G.GS.REMOTE.retail.volume"  # GS: 0-6 valley, 7 flat, 8-10 peak, 11-15 valley, 16 flat, ...
PRICE = "6.30"


def expected(case: Path) -> dict:
    return json.loads(case.with_name(case.name.replace(".json", ".expected.json")).read_text(encoding="utf-8"))


def unordered(rating: dict) -> dict:
    """The output with its lines sorted by product, kind and tier, or id: lines come in any
    order (Appendix A)."""
    fields = ("product", "tou", "discount", "id")
    return {**rating, "lines": sorted(rating["lines"], key=lambda line: [line.get(k, "") for k in fields])}


def rate_command(*args) -> dict:
    out = io.StringIO()
    call_command("rate", *map(str, args), stdout=out)
    return json.loads(out.getvalue())


def volume_case(*records, code=GPU, price=PRICE, **extra) -> dict:
    return {
        "period": "2026-12",
        "region": code.split(".")[1],
        "tax_rate": "0.06",
        "product": {"code": code, "billing": PER_VOLUME, "list_price": price},
        "records": list(records),
        **extra,
    }


def record(start, end, quantity, record_id="r1", meter="gpu_seconds") -> dict:
    return {"record_id": record_id, "meter": meter, "quantity": str(quantity), "start": start, "end": end}


def rate(case: dict) -> dict:
    """A case dict through the engine, as the command prints it (lines sorted)."""
    parsed = case_loads(json.dumps(case), meters=METERS, regions=TARIFFS)
    return unordered(rating_json(case_rate(parsed, tariff=TARIFFS[parsed.region])))


def problems(case) -> set[tuple[str, str]]:
    with pytest.raises(CaseError) as caught:
        case_loads(case if isinstance(case, str) else json.dumps(case), meters=METERS, regions=TARIFFS)
    return {(p.field, p.code) for p in caught.value.problems}


def line(tou, discount, hours, amount) -> dict:
    return {"tou": tou, "discount": discount, "hours": hours, "amount": amount}


# --- the worked cases ---------------------------------------------------------------------------


def test_the_examples_are_there():
    assert [p.name for p in CASES] == [
        "time-1.json",
        "volume-101.json",
        "volume-102.json",
        "volume-103.json",
        "volume-small.json",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_every_example_rates_to_its_expected_output_with_the_database_tariffs(case, reference_data):
    assert unordered(rate_command(case)) == unordered(expected(case))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_every_example_rates_offline_from_the_reference_files(case):
    """No database: pytest-django refuses any query in a test without the db mark."""
    assert unordered(rate_command(case, "--reference", DATA)) == unordered(expected(case))


@pytest.mark.django_db
def test_the_command_rates_with_the_tariff_the_operator_keeps(reference_data):
    Region.objects.filter(code="GS").update(tou_by_local_hour=["peak"] * 24)
    out = rate_command(EXAMPLES / "volume-small.json")
    # 4 + 1000 unit-hours, all at peak now: 1000 at 6.30 × 1.5, 4 more at 5 % off
    assert unordered(out) == unordered(
        {
            "lines": [line("peak", "0.00", "1000.000000", "9450.00"), line("peak", "0.05", "4.000000", "35.91")],
            "subtotal": "9485.91",
            "tax": "569.15",
            "total": "10055.06",
        }
    )


def test_the_command_reads_a_case_from_standard_input(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((EXAMPLES / "time-1.json").read_bytes())))
    assert unordered(rate_command("-", "--reference", DATA)) == unordered(expected(EXAMPLES / "time-1.json"))


def run_rate(path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    env.pop("REDIS_URL", None)
    return subprocess.run(  # noqa: S603 (our own manage.py, fixed arguments)
        [sys.executable, str(ROOT / "manage.py"), "rate", str(path), "--reference", str(DATA)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_invalid_case_exits_non_zero_with_its_problems_on_stderr_and_nothing_on_stdout(tmp_path):
    case = volume_case(
        record("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", 3600),
        record("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", 7200),
    )
    path = tmp_path / "conflict.json"
    path.write_text(json.dumps(case), encoding="utf-8")
    done = run_rate(path)
    assert done.returncode != 0
    assert done.stdout == ""
    assert "records[1].quantity: conflict" in done.stderr
    with pytest.raises(CommandError, match=r"records\[1\]\.quantity: conflict"):
        call_command("rate", str(path), "--reference", str(DATA), stdout=io.StringIO())


def test_a_valid_case_exits_zero_with_the_rating_on_stdout():
    done = run_rate(EXAMPLES / "volume-small.json")
    assert done.returncode == 0, done.stderr
    assert unordered(json.loads(done.stdout)) == unordered(expected(EXAMPLES / "volume-small.json"))


def test_a_missing_case_file_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read the case"):
        call_command("rate", str(tmp_path / "nope.json"), "--reference", str(DATA), stdout=io.StringIO())


# --- §13 worked examples -------------------------------------------------------------------------

RETAIL = Product("H100-80G.YRD.MAIN.retail.time", PER_TIME, Decimal("21.3600"), 60)


def reservation(start: str, *, seconds: int, microseconds: int = 0, units=8, ident="res") -> Reservation:
    begin = datetime.fromisoformat(start)
    return Reservation(ident, units, begin, begin + timedelta(seconds=seconds, microseconds=microseconds))


def test_worked_example_1_per_time_retail():
    charge = time_line(product=RETAIL, reservation=reservation("2026-12-03T01:00:00Z", seconds=3601))
    assert (charge.minutes, charge.amount) == (61, Decimal("173.73"))


def test_worked_example_4_vat_on_the_invoice_subtotal():
    """173.73 (example 1) + 49,056.00 (a W contract of 16 units at 18.25, rated per time over its
    whole window) + 147.17 (its taker fee, a line the invoice carries as it is)."""
    wholesale = Product("H100-80G.YRD.MAIN.20261207.W", PER_TIME, Decimal("18.25"), 0)
    contract = reservation("2026-12-06T16:00:00Z", seconds=168 * 3600, units=16, ident="contract")
    lines = [
        time_line(product=RETAIL, reservation=reservation("2026-12-03T01:00:00Z", seconds=3601)),
        time_line(product=wholesale, reservation=contract),
        TimeLine("taker fee", "trade-1", 1, 0, Decimal("147.17")),
    ]
    assert [x.amount for x in lines] == [Decimal("173.73"), Decimal("49056.00"), Decimal("147.17")]
    invoice = rating_total(lines=lines, tax_rate=Decimal("0.06"))
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        Decimal("49376.90"),
        Decimal("2962.61"),
        Decimal("52339.51"),
    )
    exempt = rating_total(lines=lines, tax_rate=Decimal("0"))
    assert (exempt.tax, exempt.total) == (Decimal("0.00"), Decimal("49376.90"))


# --- per time --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "microseconds", "minutes", "amount"),
    [
        (600, 0, 60, "21.36"),  # the minimum applies
        (3600, 0, 60, "21.36"),  # exactly the minimum
        (3600, 1, 61, "21.72"),  # a started minute counts, to the microsecond
        (7259, 0, 121, "43.08"),  # 120 min 59 s
    ],
)
def test_per_time_bills_every_started_minute_and_at_least_the_minimum(seconds, microseconds, minutes, amount):
    started = reservation("2026-12-03T01:00:00Z", seconds=seconds, microseconds=microseconds, units=1)
    charge = time_line(product=RETAIL, reservation=started)
    assert (charge.minutes, charge.amount) == (minutes, Decimal(amount))


def test_a_reservation_is_charged_whole_in_the_period_it_starts_in_local_time():
    reservations = [
        reservation("2026-11-30T15:59:59Z", seconds=7200, ident="starts 23:59:59 on 30 Nov"),
        reservation("2026-11-30T16:00:00Z", seconds=7200, ident="starts 00:00 on 1 Dec"),
        reservation("2026-12-31T15:00:00Z", seconds=48 * 3600, ident="starts 23:00 on 31 Dec"),
        reservation("2026-12-31T16:00:00Z", seconds=7200, ident="starts 00:00 on 1 Jan"),
    ]
    lines = time_lines(product=RETAIL, reservations=reservations, period=DECEMBER)
    assert [(x.id, x.minutes) for x in lines] == [("starts 00:00 on 1 Dec", 120), ("starts 23:00 on 31 Dec", 2880)]


def test_a_per_time_case_with_a_reservation_outside_its_period():
    case = json.loads((EXAMPLES / "time-1.json").read_text())
    nov = {"id": "nov", "units": 1, "start": "2026-11-30T12:00:00Z", "end": "2026-12-01T12:00:00Z"}  # 20:00 local
    case["reservations"].append(nov)
    assert rate(case) == unordered(expected(EXAMPLES / "time-1.json"))


def test_an_identical_repeated_reservation_counts_once_and_a_different_one_conflicts():
    case = json.loads((EXAMPLES / "time-1.json").read_text())
    case["reservations"].append(dict(case["reservations"][0]))
    assert rate(case) == unordered(expected(EXAMPLES / "time-1.json"))
    case["reservations"][-1]["units"] = 9
    assert problems(case) == {("reservations[3].units", "conflict")}


# --- per volume: slicing ------------------------------------------------------------------------


def test_a_record_over_local_midnight_and_the_month_boundary_is_cut_and_only_december_counts():
    before = record("2026-11-30T15:00:00Z", "2026-11-30T17:00:00Z", 8 * 7200, "over 1 Dec 00:00")
    inside = record("2026-12-01T15:00:00Z", "2026-12-01T17:00:00Z", 8 * 7200, "over 2 Dec 00:00")
    after = record("2026-12-31T15:00:00Z", "2026-12-31T17:00:00Z", 8 * 7200, "over 1 Jan 00:00")
    assert rate(volume_case(before)) == rate(volume_case(record("2026-11-30T16:00:00Z", "2026-11-30T17:00:00Z", 28800)))
    assert rate(volume_case(before))["lines"] == [line("valley", "0.00", "8.000000", "25.20")]
    assert rate(volume_case(inside))["lines"] == [line("valley", "0.00", "16.000000", "50.40")]
    assert rate(volume_case(after))["lines"] == [line("valley", "0.00", "8.000000", "25.20")]
    assert rate(volume_case(before, inside, after)) == {
        "lines": [line("valley", "0.00", "32.000000", "100.80")],
        "subtotal": "100.80",
        "tax": "6.05",
        "total": "106.85",
    }


def test_a_record_over_a_time_of_use_boundary_is_cut_in_proportion_to_time():
    # 06:30-07:30 local in GS: half valley, half flat; 4 units
    case = volume_case(record("2026-12-01T22:30:00Z", "2026-12-01T23:30:00Z", 4 * 3600))
    assert rate(case)["lines"] == [
        line("flat", "0.00", "2.000000", "12.60"),
        line("valley", "0.00", "2.000000", "6.30"),
    ]


def test_slice_quantities_stay_exact_fractions():
    # 1 unit-second over 3 s, 1 s before 07:00 local (valley) and 2 s after (flat)
    usage = VolumeUsage(tariff=TARIFFS["GS"], period=DECEMBER)
    usage.add(instant_us(utc("2026-12-01T22:59:59Z")), instant_us(utc("2026-12-01T23:00:02Z")), 1)
    assert [q for _, q in usage.blocks()] == [Fraction(1, 3), Fraction(2, 3)]
    assert [(x.tou, x.hours) for x in usage.lines(product=product())] == [
        ("flat", Decimal("0.000185")),
        ("valley", Decimal("0.000093")),
    ]


def test_exact_shares_decide_a_tie_that_bounded_sums_cannot():
    """A third and two thirds of a unit-second make exactly one, in valley hours at 36.00 × 0.5:
    exactly half a fen, which rounds up. Sums bounded at 10⁻⁴⁰ straddle the tie, so the engine
    rates on the exact sums."""
    usage = VolumeUsage(tariff=TARIFFS["GS"], period=DECEMBER)
    usage.add(instant_us(utc("2026-12-01T22:59:59Z")), instant_us(utc("2026-12-01T23:00:02Z")), 1)  # 1/3 before 07:00
    usage.add(instant_us(utc("2026-12-02T02:59:59Z")), instant_us(utc("2026-12-02T03:00:02Z")), 1)  # 2/3 after 11:00
    low = sum(b[1] for b in usage.bounded_blocks() if TARIFFS["GS"].kind_at(b[0]) == "valley")
    assert low < 10**40  # the lower bound alone would round down
    valley = [x for x in usage.lines(product=product(price="36.00")) if x.tou == "valley"]
    assert [(x.hours, x.amount) for x in valley] == [(Decimal("0.000278"), Decimal("0.01"))]


def test_a_cumulative_exactly_on_a_tier_bound_through_fractional_shares():
    """3,599,999 unit-seconds and a third in valley hours, two thirds in flat: exactly 1,000
    unit-hours, so the peak hour after them is all in the 5 % tier. Bounded sums cannot tell
    whether the bound was reached; exact ones can."""
    usage = VolumeUsage(tariff=TARIFFS["GS"], period=DECEMBER)
    usage.add(instant_us(utc("2026-11-30T21:00:00Z")), instant_us(utc("2026-11-30T22:00:00Z")), 3_599_999)
    usage.add(instant_us(utc("2026-11-30T22:59:59Z")), instant_us(utc("2026-11-30T23:00:02Z")), 1)
    usage.add(instant_us(utc("2026-12-01T00:00:00Z")), instant_us(utc("2026-12-01T01:00:00Z")), 3600)
    assert [(x.tou, x.discount, x.hours, x.amount) for x in usage.lines(product=product())] == [
        ("flat", Decimal("0.00"), Decimal("0.000185"), Decimal("0.00")),
        ("peak", Decimal("0.05"), Decimal("1.000000"), Decimal("8.98")),
        ("valley", Decimal("0.00"), Decimal("999.999815"), Decimal("3150.00")),
    ]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def product(code=GPU, price=PRICE) -> Product:
    return Product(code, PER_VOLUME, Decimal(price))


# --- per volume: tiers ----------------------------------------------------------------------------


def test_a_slice_over_a_tier_boundary_is_cut_there():
    # 1,200 unit-hours in one valley hour (00:00-01:00 local, 1 Dec)
    case = volume_case(record("2026-11-30T16:00:00Z", "2026-11-30T17:00:00Z", 1200 * 3600))
    assert rate(case) == {
        "lines": [line("valley", "0.00", "1000.000000", "3150.00"), line("valley", "0.05", "200.000000", "598.50")],
        "subtotal": "3748.50",
        "tax": "224.91",
        "total": "3973.41",
    }


def test_one_slice_can_cross_both_tier_boundaries():
    case = volume_case(record("2026-11-30T16:00:00Z", "2026-11-30T17:00:00Z", 10_500 * 3600))
    assert rate(case)["lines"] == [
        line("valley", "0.00", "1000.000000", "3150.00"),
        line("valley", "0.05", "9000.000000", "26932.50"),
        line("valley", "0.10", "500.000000", "1417.50"),
    ]


def test_slices_are_taken_in_order_of_their_start_across_records():
    # a long valley record from 00:00 and a peak one at 08:00: the tier fills with valley first,
    # whatever order the records come in
    valley = record("2026-11-30T16:00:00Z", "2026-11-30T23:00:00Z", 999 * 3600, "valley")
    peak = record("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", 10 * 3600, "peak")
    expected_lines = [
        line("peak", "0.00", "1.000000", "9.45"),
        line("peak", "0.05", "9.000000", "80.80"),  # 9 × 6.30 × 1.5 × 0.95 = 80.7975
        line("valley", "0.00", "999.000000", "3146.85"),
    ]
    assert rate(volume_case(peak, valley))["lines"] == expected_lines
    assert rate(volume_case(valley, peak))["lines"] == expected_lines


def test_a_slice_ending_exactly_on_a_tier_bound_leaves_the_next_slice_in_the_next_tier():
    first = record("2026-11-30T16:00:00Z", "2026-11-30T17:00:00Z", 1000 * 3600, "a")
    second = record("2026-11-30T17:00:00Z", "2026-11-30T18:00:00Z", 3600, "b")
    assert rate(volume_case(first, second))["lines"] == [
        line("valley", "0.00", "1000.000000", "3150.00"),
        line("valley", "0.05", "1.000000", "2.99"),  # 2.9925
    ]


def test_tiers_cumulate_per_product_and_lines_group_by_product():
    a = product("A100-80G.GS.REMOTE.retail.volume")
    b = product("L40S.GS.REMOTE.retail.volume", "2.00")
    lines = []
    for p in (a, b):
        usage = VolumeUsage(tariff=TARIFFS["GS"], period=DECEMBER)
        usage.add(instant_us(utc("2026-11-30T16:00:00Z")), instant_us(utc("2026-11-30T17:00:00Z")), 900 * 3600)
        lines += usage.lines(product=p)
    invoice = rating_json(rating_total(lines=lines, tax_rate=Decimal("0.06")), product=True)
    assert invoice["lines"] == [
        {"product": a.code, **line("valley", "0.00", "900.000000", "2835.00")},
        {"product": b.code, **line("valley", "0.00", "900.000000", "900.00")},
    ]
    assert (invoice["subtotal"], invoice["tax"]) == ("3735.00", "224.10")


# --- per volume: records ------------------------------------------------------------------------


def test_an_identical_repeated_record_counts_once():
    once = volume_case(record("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", 3600))
    twice = volume_case(
        record("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", 3600),
        record("2026-12-01T08:00:00+08:00", "2026-12-01T09:00:00+08:00", "3600.0"),  # the same, written otherwise
    )
    assert rate(twice) == rate(once)
    assert rate(once)["lines"] == [line("peak", "0.00", "1.000000", "9.45")]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": "3601"}, "quantity"),
        ({"start": "2026-12-01T00:00:01Z"}, "start"),
        ({"end": "2026-12-01T01:00:01Z"}, "end"),
    ],
)
def test_a_repeated_record_id_with_different_content_makes_the_case_invalid(change, field):
    first = record("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", 3600)
    case = volume_case(first, record("2026-12-01T02:00:00Z", "2026-12-01T03:00:00Z", 1, "r2"), {**first, **change})
    assert problems(case) == {(f"records[2].{field}", "conflict")}


def test_records_check_names_conflicts_for_ingestion():
    r = UsageRecord("r1", "gpu_seconds", Decimal(5), utc("2026-12-01T00:00:00Z"), utc("2026-12-01T01:00:00Z"))
    assert records_check([r, r], meter="gpu_seconds") == [r]
    with pytest.raises(CaseError) as caught:
        records_check([r, UsageRecord("r1", "gpu_seconds", Decimal(6), r.start, r.end)], meter="gpu_seconds")
    assert [(p.field, p.code) for p in caught.value.problems] == [("records[1].quantity", "conflict")]


@pytest.mark.parametrize(
    ("code", "meter"),
    [
        ("A100-80G.GS.REMOTE.retail.volume", "vcpu_seconds"),
        ("910B.GS.REMOTE.retail.volume", "vcpu_seconds"),
        ("VCPU-X86.GS.REMOTE.retail.volume", "gpu_seconds"),
        ("VCPU-ARM.GS.REMOTE.retail.volume", "kwh"),
    ],
)
def test_a_meter_other_than_the_classs_makes_the_case_invalid(code, meter):
    case = volume_case(record("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", 1, meter=meter), code=code)
    assert problems(case) == {("records[0].meter", "wrong_meter")}


def test_a_vcpu_product_is_rated_on_vcpu_seconds():
    case = volume_case(
        record("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", 64 * 3600, meter="vcpu_seconds"),
        code="VCPU-X86.GS.REMOTE.retail.volume",
        price="0.0315",
    )
    assert rate(case)["lines"] == [line("peak", "0.00", "64.000000", "3.02")]  # 3.024


@pytest.mark.parametrize("end", ["2026-12-01T00:00:00Z", "2026-11-30T23:59:59Z", "2026-12-01T07:59:59+08:00"])
def test_a_record_that_does_not_end_after_it_starts_makes_the_case_invalid(end):
    assert problems(volume_case(record("2026-12-01T00:00:00Z", end, 1))) == {("records[0].end", "end_not_after_start")}


def test_a_reservation_that_does_not_end_after_it_starts_makes_the_case_invalid():
    case = json.loads((EXAMPLES / "time-1.json").read_text())
    case["reservations"][1]["end"] = case["reservations"][1]["start"]
    assert problems(case) == {("reservations[1].end", "end_not_after_start")}


def test_every_problem_of_a_case_is_reported_with_its_field():
    case = volume_case(
        record("2026-12-01T00:00:00", "2026-12-01T01:00:00Z", "-1", meter="vcpu_seconds"),
        {"record_id": "r2", "meter": "gpu_seconds", "start": "2026-12-01T00:00:00Z", "end": "x", "note": 1},
        price="6.30001",
        tax_rate=0.06,  # a JSON number is read as the exact decimal it spells: allowed
        period="2026-13",
    )
    assert problems(case) == {
        ("period", "invalid"),
        ("product.list_price", "invalid"),  # more than 4 places
        ("records[0].start", "invalid"),  # no offset
        ("records[0].quantity", "out_of_range"),
        ("records[0].meter", "wrong_meter"),
        ("records[1].quantity", "required"),
        ("records[1].end", "invalid"),
        ("records[1].note", "unknown_field"),
    }


@pytest.mark.parametrize(
    ("change", "expected_problems"),
    [
        ({"region": "XX"}, {("region", "unknown_region")}),
        (
            {"product": {"code": "Z80.GS.x", "billing": PER_VOLUME, "list_price": "1"}},
            {("product.code", "unknown_class")},
        ),
        ({"product": {"code": GPU, "billing": "per_hour", "list_price": "1"}}, {("product.billing", "invalid")}),
        (
            {"product": {"code": GPU, "billing": PER_TIME, "list_price": "1"}},
            {("product.minimum_minutes", "required"), ("reservations", "required"), ("records", "unknown_field")},
        ),
        ({"tax_rate": "1.5"}, {("tax_rate", "out_of_range")}),
        ({"extra": True}, {("extra", "unknown_field")}),
    ],
)
def test_case_level_problems(change, expected_problems):
    assert problems({**volume_case(), **change}) == expected_problems


@pytest.mark.parametrize(
    ("quantity", "code"),
    [("1e18", "out_of_range"), ("1e-13", "invalid"), ("NaN", "invalid"), ("lots", "invalid"), (True, "invalid")],
)
def test_a_quantity_is_a_sane_decimal(quantity, code):
    case = volume_case(record("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", 1))
    case["records"][0]["quantity"] = quantity
    assert problems(case) == {("records[0].quantity", code)}


def test_a_product_or_its_records_that_are_not_objects_are_invalid():
    assert problems({**volume_case(), "product": None}) == {("product", "invalid")}
    assert problems({**volume_case(), "records": None}) == {("records", "invalid")}
    assert problems(volume_case("r1")) == {("records[0]", "invalid")}


def test_a_file_that_is_not_json_is_invalid():
    assert problems("{not json") == {("", "not_json")}
    assert problems('{"tax_rate": NaN}') == {("", "not_json")}
    assert problems("[]") == {("", "invalid")}


# --- streaming and pre-aggregated usage ---------------------------------------------------------


def example_rows(name="volume-103.json"):
    case = case_loads((EXAMPLES / name).read_text(), meters=METERS, regions=TARIFFS)
    return case, [r.row() for r in case.records]


def test_usage_fed_in_parts_and_merged_rates_like_usage_fed_at_once():
    case, rows = example_rows()
    whole = VolumeUsage(tariff=TARIFFS[case.region], period=case.period)
    whole.add_many(rows)
    first, second = (
        VolumeUsage(tariff=TARIFFS[case.region], period=case.period),
        VolumeUsage(tariff=TARIFFS[case.region], period=case.period),
    )
    first.add_many(rows[::2])
    for row in rows[1::2]:
        second.add(*row)
    first.merge(second)
    assert first.lines(product=case.product) == whole.lines(product=case.product)
    assert rating_json(rating_total(lines=whole.lines(product=case.product), tax_rate=case.tax_rate)) == rating_json(
        case_rate(case, tariff=TARIFFS[case.region])
    )


def test_usage_summed_by_local_hour_rates_like_the_records():
    """The invoice code may sum usage by hour (in SQL, say) and rate the sums."""
    case, rows = example_rows()
    tariff = TARIFFS[case.region]
    by_hour: dict[int, Fraction] = {}
    hour = 3_600_000_000
    for start, end, quantity in rows:
        moment = start
        while moment < end:
            cut = min(end, (moment // hour + 1) * hour)
            share = Fraction(quantity) * (cut - moment) / (end - start)
            by_hour[moment // hour * hour] = by_hour.get(moment // hour * hour, 0) + share
            moment = cut
    lo, hi = case.period.bounds_us()
    blocks = [(h, q) for h, q in by_hour.items() if lo <= h < hi]
    assert volume_lines_from_blocks(product=case.product, blocks=blocks, tariff=tariff) == volume_lines(
        product=case.product, records=case.records, tariff=tariff, period=case.period
    )


# --- writing a case -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_a_case_written_and_read_back_is_the_same_case_and_rates_the_same(path):
    case = case_loads(path.read_text(), meters=METERS, regions=TARIFFS)
    again = case_loads(case_dumps(case), meters=METERS, regions=TARIFFS)
    assert again == case
    assert case_rate(again, tariff=TARIFFS[again.region]) == case_rate(case, tariff=TARIFFS[case.region])


def test_a_case_written_from_typed_inputs_round_trips():
    local = LOCAL
    records = (
        UsageRecord("a", "gpu_seconds", Decimal("12.5"), datetime(2026, 12, 1, 6, 59, 59, 250000, tzinfo=local),
                    datetime(2026, 12, 1, 7, 0, 3, tzinfo=local)),
        UsageRecord("b", "gpu_seconds", Decimal("7200"), datetime(2026, 11, 30, 23, 30, tzinfo=local),
                    datetime(2026, 12, 1, 0, 30, tzinfo=local)),
    )  # fmt: skip
    case = RatingCase(Period(2026, 12), "GS", Decimal("0.06"), product(), records)
    written = json.loads(case_dumps(case))
    assert written["records"][0] == {
        "record_id": "a",
        "meter": "gpu_seconds",
        "quantity": "12.5",
        "start": "2026-11-30T22:59:59.250000Z",
        "end": "2026-11-30T23:00:03Z",
    }
    again = case_loads(json.dumps(written), meters=METERS, regions=TARIFFS)
    assert again == case
    assert case_rate(again, tariff=TARIFFS["GS"]) == case_rate(case, tariff=TARIFFS["GS"])
    booked = (
        reservation("2026-12-03T01:00:00Z", seconds=3601),
        reservation("2026-12-04T01:00:00Z", seconds=60, ident="b"),
    )
    stays = RatingCase(Period(2026, 12), "YRD", Decimal("0"), RETAIL, reservations=booked)
    again = case_loads(case_dumps(stays), meters=METERS, regions=TARIFFS)
    assert again == stays
    assert rating_json(case_rate(again, tariff=TARIFFS["YRD"])) == {
        "lines": [{"id": "res", "minutes": 61, "amount": "173.73"}, {"id": "b", "minutes": 60, "amount": "170.88"}],
        "subtotal": "344.61",
        "tax": "0.00",
        "total": "344.61",
    }


def test_times_are_whole_microseconds_utc():
    assert instant_us(datetime(1970, 1, 1, 8, tzinfo=LOCAL)) == 0
    assert instant_us(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005
    with pytest.raises(ValueError, match="offset"):
        instant_us(datetime(2026, 12, 1))  # noqa: DTZ001 (a naive time, refused)
    assert (DECEMBER.start, DECEMBER.end) == (utc("2026-11-30T16:00:00Z"), utc("2026-12-31T16:00:00Z"))
