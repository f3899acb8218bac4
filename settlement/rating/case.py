"""The rating case file (trading standard Appendix A): one product's charges for one period,
self-contained, read, checked, rated and written back.

Reading is strict: every field of the format is required where the format has it, nothing else
is accepted (a misspelt ``minimum_minute`` is an error, not a silently missing minimum), decimals
are JSON strings or numbers read as the exact decimals they spell (never binary floats), times
are ISO 8601 with an offset. Every
problem found is reported, each naming its field and a reason code, and an invalid case is not
rated at all.
"""

import json
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from settlement.rating.checks import CaseError, Problem, records_problems, reservations_problems
from settlement.rating.inputs import (
    BILLINGS,
    PER_TIME,
    PER_VOLUME,
    Period,
    Product,
    Reservation,
    Tariff,
    UsageRecord,
    instant_us,
    period_parse,
)
from settlement.rating.lines import Rating, rating_total
from settlement.rating.per_time import time_lines
from settlement.rating.per_volume import volume_lines

PRICE_PLACES = 4  # §1: unit prices have up to 4 decimals
# Any decimal in a case: a sanity bound, so that no field can make the exact arithmetic huge
# (10^18 unit-seconds are 30 million GPU-years; "1e-999999" would be a million-digit fraction).
DECIMAL_LIMIT = 10**18
MAX_PLACES = 12
_CASE_FIELDS = ("period", "region", "tax_rate", "product")
_PRODUCT_FIELDS = ("code", "billing", "list_price")
_RECORD_FIELDS = ("record_id", "meter", "quantity", "start", "end")
_RESERVATION_FIELDS = ("id", "units", "start", "end")


@dataclass(frozen=True)
class RatingCase:
    period: Period
    region: str
    tax_rate: Decimal
    product: Product
    records: tuple[UsageRecord, ...] = ()  # per-volume
    reservations: tuple[Reservation, ...] = ()  # per-time


class _Reader:
    """Reads fields, noting a Problem (and answering None) for each one it cannot take."""

    def __init__(self):
        self.problems: list[Problem] = []

    def problem(self, field: str, code: str, message: str) -> None:
        self.problems.append(Problem(field, code, message))

    def fields(self, data: Any, field: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> bool:
        if not isinstance(data, dict):
            self.problem(field, "invalid", "an object")
            return False
        prefix = f"{field}." if field else ""
        for name in sorted(set(data) - set(required) - set(optional)):
            self.problem(f"{prefix}{name}", "unknown_field", "not a field of a rating case here")
        for name in required:
            if name not in data:
                self.problem(f"{prefix}{name}", "required", "missing")
        return True

    def text(self, data: dict, name: str, field: str) -> str | None:
        value = data.get(name)
        if name not in data:
            return None
        if not isinstance(value, str) or not value:
            self.problem(field, "invalid", "a non-empty string")
            return None
        return value

    def decimal(self, data: dict, name: str, field: str, *, places: int | None = None) -> Decimal | None:
        """A finite, non-negative decimal written as a string or a JSON integer (a JSON number
        with a fraction is taken only if it was parsed as a Decimal, never as a float)."""
        if name not in data:
            return None
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            self.problem(field, "invalid", 'a decimal written as a string, e.g. "6.30"')
            return None
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            self.problem(field, "invalid", f"{value!r} is not a decimal")
            return None
        if not number.is_finite():
            self.problem(field, "invalid", "a finite decimal")
        elif number < 0:
            self.problem(field, "out_of_range", "not negative")
        elif number >= DECIMAL_LIMIT:
            self.problem(field, "out_of_range", f"less than {DECIMAL_LIMIT:,}")
        elif number and number.as_tuple().exponent < -MAX_PLACES:
            self.problem(field, "invalid", f"at most {MAX_PLACES} decimal places")
        elif places is not None and (Fraction(number) * 10**places).denominator != 1:
            self.problem(field, "invalid", f"at most {places} decimal places")
        else:
            return number
        return None

    def integer(self, data: dict, name: str, field: str, *, minimum: int) -> int | None:
        if name not in data:
            return None
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(field, "invalid", "a whole number")
            return None
        if value < minimum:
            self.problem(field, "out_of_range", f"at least {minimum}")
            return None
        return value

    def time(self, data: dict, name: str, field: str) -> datetime | None:
        if name not in data:
            return None
        value = data[name]
        try:
            if not isinstance(value, str):
                raise ValueError
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            self.problem(field, "invalid", "an ISO 8601 time with an offset, e.g. 2026-12-01T00:00:00Z")
            return None
        if moment.tzinfo is None:
            self.problem(field, "invalid", "a time with an offset (Z or +08:00)")
            return None
        return moment

    def interval(self, start: datetime | None, end: datetime | None, field: str) -> bool:
        if start is None or end is None:
            return False
        if instant_us(end) <= instant_us(start):
            self.problem(f"{field}.end", "end_not_after_start", "the end is not after the start")
            return False
        return True


def case_read(data: Any, *, meters: Mapping[str, str], regions: Container[str]) -> RatingCase:
    """A rating case from its parsed JSON (decimals as strings), checked against the meter of
    each resource class (``meters``) and the regions that have a tariff; ``CaseError`` with
    every problem if it is not a valid case."""
    read = _Reader()
    billing = _billing(data)
    items = {PER_VOLUME: ("records",), PER_TIME: ("reservations",)}.get(billing, ())
    # with no valid billing, the product's problem is reported, not the items'
    if not read.fields(data, "", (*_CASE_FIELDS, *items), () if items else ("records", "reservations")):
        raise CaseError(read.problems)
    period = None
    if "period" in data:
        try:
            period = period_parse(data["period"])
        except ValueError as exc:
            read.problem("period", "invalid", str(exc))
    region = read.text(data, "region", "region")
    if region is not None and region not in regions:
        read.problem("region", "unknown_region", f"no time-of-use tariff for region {region!r}")
    tax_rate = read.decimal(data, "tax_rate", "tax_rate")
    if tax_rate is not None and tax_rate > 1:
        read.problem("tax_rate", "out_of_range", "a fraction, at most 1 (0.06 is 6 %)")
    product = _product(read, data["product"], meters) if "product" in data else None
    records: list[UsageRecord] = []
    reservations: list[Reservation] = []
    if billing == PER_VOLUME and "records" in data:
        # with an unknown class the records are still checked, all but their meter
        records = _records(read, data["records"], meters.get(_resource_class(data)))
    elif billing == PER_TIME and "reservations" in data:
        reservations = _reservations(read, data["reservations"])
    if read.problems:
        raise CaseError(read.problems)
    # every field was read, or there would be a problem
    return RatingCase(period, region, tax_rate, product, tuple(records), tuple(reservations))


def _billing(data: Any) -> str | None:
    product = data.get("product") if isinstance(data, dict) else None
    billing = product.get("billing") if isinstance(product, dict) else None
    return billing if isinstance(billing, str) else None


def _resource_class(data: dict) -> str | None:
    code = data["product"].get("code") if isinstance(data.get("product"), dict) else None
    return code.split(".", 1)[0] if isinstance(code, str) else None


def _product(read: _Reader, data: Any, meters: Mapping[str, str]) -> Product | None:
    billing = _billing({"product": data})
    if not read.fields(data, "product", (*_PRODUCT_FIELDS, *(("minimum_minutes",) if billing == PER_TIME else ()))):
        return None
    code = read.text(data, "code", "product.code")
    if code is not None and code.split(".", 1)[0] not in meters:
        read.problem("product.code", "unknown_class", f"no resource class {code.split('.', 1)[0]!r}")
        code = None
    if "billing" in data and billing not in BILLINGS:
        read.problem("product.billing", "invalid", f"{' or '.join(BILLINGS)}")
    price = read.decimal(data, "list_price", "product.list_price", places=PRICE_PLACES)
    minimum = read.integer(data, "minimum_minutes", "product.minimum_minutes", minimum=0)
    if code is None or billing not in BILLINGS or price is None or (billing == PER_TIME and minimum is None):
        return None
    return Product(code, billing, price, minimum or 0)


def _records(read: _Reader, data: Any, meter: str | None) -> list[UsageRecord]:
    if not isinstance(data, list):
        read.problem("records", "invalid", "a list of usage records")
        return []
    parsed = []
    for index, item in enumerate(data):
        field = f"records[{index}]"
        if not read.fields(item, field, _RECORD_FIELDS):
            continue
        record_id = read.text(item, "record_id", f"{field}.record_id")
        meter_given = read.text(item, "meter", f"{field}.meter")
        if meter_given is not None and meter is not None and meter_given != meter:
            read.problem(f"{field}.meter", "wrong_meter", f"this class is metered in {meter}, not {meter_given}")
        quantity = read.decimal(item, "quantity", f"{field}.quantity")
        start, end = read.time(item, "start", f"{field}.start"), read.time(item, "end", f"{field}.end")
        ordered = read.interval(start, end, field)
        if None not in (record_id, meter_given, quantity) and ordered:
            parsed.append((index, UsageRecord(record_id, meter_given, quantity, start, end)))
    kept, problems = records_problems(parsed, meter=None)  # the meters are checked above
    read.problems.extend(problems)
    return kept


def _reservations(read: _Reader, data: Any) -> list[Reservation]:
    if not isinstance(data, list):
        read.problem("reservations", "invalid", "a list of reservations")
        return []
    parsed = []
    for index, item in enumerate(data):
        field = f"reservations[{index}]"
        if not read.fields(item, field, _RESERVATION_FIELDS):
            continue
        ident = read.text(item, "id", f"{field}.id")
        units = read.integer(item, "units", f"{field}.units", minimum=1)
        start, end = read.time(item, "start", f"{field}.start"), read.time(item, "end", f"{field}.end")
        ordered = read.interval(start, end, field)
        if None not in (ident, units) and ordered:
            parsed.append((index, Reservation(ident, units, start, end)))
    kept, problems = reservations_problems(parsed)
    read.problems.extend(problems)
    return kept


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def case_loads(text: str | bytes, *, meters: Mapping[str, str], regions: Container[str]) -> RatingCase:
    """``case_read`` of JSON text; numbers with a fraction are read as exact decimals."""
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise CaseError([Problem("", "not_json", str(exc))]) from exc
    return case_read(data, meters=meters, regions=regions)


def case_rate(case: RatingCase, *, tariff: Tariff) -> Rating:
    """The case's lines, subtotal, VAT and total, with ``tariff`` the time-of-use table of its
    region."""
    if case.product.billing == PER_TIME:
        lines = time_lines(product=case.product, reservations=case.reservations, period=case.period)
    else:
        lines = volume_lines(product=case.product, records=case.records, tariff=tariff, period=case.period)
    return rating_total(lines=lines, tax_rate=case.tax_rate)


def _time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def case_write(case: RatingCase) -> dict:
    """The case as Appendix A writes it (decimals and times as strings, times in UTC); reading
    the JSON of it back gives an equal case, which rates to the same lines."""
    product: dict[str, Any] = {
        "code": case.product.code,
        "billing": case.product.billing,
        "list_price": format(case.product.list_price, "f"),
    }
    out: dict[str, Any] = {
        "period": case.period.label,
        "region": case.region,
        "tax_rate": format(case.tax_rate, "f"),
        "product": product,
    }
    if case.product.billing == PER_TIME:
        product["minimum_minutes"] = case.product.minimum_minutes
        out["reservations"] = [
            {"id": r.id, "units": r.units, "start": _time_text(r.start), "end": _time_text(r.end)}
            for r in case.reservations
        ]
    else:
        out["records"] = [
            {
                "record_id": r.record_id,
                "meter": r.meter,
                "quantity": format(r.quantity, "f"),
                "start": _time_text(r.start),
                "end": _time_text(r.end),
            }
            for r in case.records
        ]
    return out


def case_dumps(case: RatingCase) -> str:
    return json.dumps(case_write(case), indent=1, ensure_ascii=False)
