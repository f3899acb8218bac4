"""What the rating engine is given: products, usage records, reservations, a time-of-use tariff,
a billing period and the volume tiers (trading standard §6, §7, §11), as small frozen values.

Instants inside the engine are integers: microseconds since the Unix epoch, UTC. That is the
resolution of a ``datetime``, so nothing is lost converting, and every slice length is a whole
number. Local time is UTC+8 with no daylight saving, so a local hour is always a whole UTC hour
and a local day a fixed 24 hours.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType

PER_TIME, PER_VOLUME = "per_time", "per_volume"
BILLINGS = (PER_TIME, PER_VOLUME)
GPU_SECONDS, VCPU_SECONDS = "gpu_seconds", "vcpu_seconds"

LOCAL = timezone(timedelta(hours=8), "Asia/Shanghai")  # UTC+8, no DST
SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 3600 * SECOND_US
DAY_US = 24 * HOUR_US
LOCAL_OFFSET_US = 8 * HOUR_US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)

TOU_MULTIPLIERS: Mapping[str, Decimal] = MappingProxyType(
    {"peak": Decimal("1.50"), "flat": Decimal("1.00"), "valley": Decimal("0.50")}
)


def instant_us(moment: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times carry an offset")
    return (moment - _EPOCH) // _ONE_US


def instant_datetime(us: int) -> datetime:
    """Integer microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True)
class Period:
    """A billing period: a calendar month in local time (§11)."""

    year: int
    month: int

    def __post_init__(self):
        if not (1 <= self.month <= 12 and 1 <= self.year <= 9998):
            raise ValueError(f"no month {self.year}-{self.month}")

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        """The first instant of the period (UTC): local midnight on the 1st."""
        return datetime(self.year, self.month, 1, tzinfo=LOCAL).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period (UTC)."""
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return datetime(year, month, 1, tzinfo=LOCAL).astimezone(UTC)

    def bounds_us(self) -> tuple[int, int]:
        return instant_us(self.start), instant_us(self.end)

    def __str__(self):
        return self.label


_PERIOD = re.compile(r"(\d{4})-(\d{2})")


def period_parse(text: str) -> Period:
    """``"2026-12"`` → the December 2026 billing period."""
    match = _PERIOD.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a month written YYYY-MM")
    return Period(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class Tariff:
    """A region's time-of-use table (§7): the period kind of each local hour 0–23 and each
    kind's price multiplier."""

    kinds: tuple[str, ...]
    multipliers: Mapping[str, Decimal] = field(default=TOU_MULTIPLIERS)

    def __post_init__(self):
        if len(self.kinds) != 24:
            raise ValueError("a tariff names one period kind for each of the 24 local hours")
        unknown = sorted(set(self.kinds) - set(self.multipliers))
        if unknown:
            raise ValueError(f"no multiplier for period kind(s) {', '.join(unknown)}")
        if any(not isinstance(m, Decimal) or not m.is_finite() or m < 0 for m in self.multipliers.values()):
            raise ValueError("multipliers are finite, non-negative decimals")

    def kind_at(self, us: int) -> str:
        """The period kind of the local hour holding the instant ``us``."""
        return self.kinds[(us + LOCAL_OFFSET_US) % DAY_US // HOUR_US]


def tariff_make(*, tou_by_local_hour: Sequence[str], multipliers: Mapping[str, Decimal] = TOU_MULTIPLIERS) -> Tariff:
    """A tariff from the shape regions.json and the catalog keep it in."""
    return Tariff(tuple(tou_by_local_hour), MappingProxyType({k: Decimal(v) for k, v in multipliers.items()}))


@dataclass(frozen=True)
class VolumeTier:
    """Cumulative unit-hours in the period from ``from_hours`` on earn ``discount`` (§6.2)."""

    from_hours: Decimal
    discount: Decimal


VOLUME_TIERS: tuple[VolumeTier, ...] = (
    VolumeTier(Decimal(0), Decimal("0.00")),
    VolumeTier(Decimal(1000), Decimal("0.05")),
    VolumeTier(Decimal(10000), Decimal("0.10")),
)


@dataclass(frozen=True)
class Product:
    """What is rated: ``code`` is CLASS.REGION.TIER.MODE.BILLING-ish, its first part the class."""

    code: str
    billing: str
    list_price: Decimal
    minimum_minutes: int = 0  # per-time only

    def __post_init__(self):
        if self.billing not in BILLINGS:
            raise ValueError(f"billing is {' or '.join(BILLINGS)}")
        if not isinstance(self.list_price, Decimal) or not self.list_price.is_finite() or self.list_price < 0:
            raise ValueError("the list price is a finite, non-negative decimal")
        if self.minimum_minutes < 0:
            raise ValueError("the minimum is not negative")

    @property
    def resource_class(self) -> str:
        return self.code.split(".", 1)[0]


@dataclass(frozen=True)
class UsageRecord:
    """A provider's usage record (§6.2): ``quantity`` unit-seconds of ``meter`` over [start, end)."""

    record_id: str
    meter: str
    quantity: Decimal
    start: datetime
    end: datetime

    def __post_init__(self):
        if not isinstance(self.record_id, str) or not self.record_id:
            raise ValueError("a record_id is a non-empty string")
        if not isinstance(self.quantity, Decimal) or not self.quantity.is_finite() or self.quantity < 0:
            raise ValueError("the quantity is a finite, non-negative decimal")
        if instant_us(self.end) <= instant_us(self.start):
            raise ValueError("a record ends after it starts")

    def row(self) -> tuple[int, int, Decimal]:
        """The record as the volume engine takes it: (start µs, end µs, quantity)."""
        return instant_us(self.start), instant_us(self.end), self.quantity


@dataclass(frozen=True)
class Reservation:
    """A per-time reservation or contract (§6.1): ``units`` from ``start`` to its actual ``end``
    (the scheduled end, or the cancellation if earlier)."""

    id: str
    units: int
    start: datetime
    end: datetime

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("a reservation id is a non-empty string")
        if isinstance(self.units, bool) or not isinstance(self.units, int) or self.units < 1:
            raise ValueError("units are a whole number, at least 1")
        if instant_us(self.end) <= instant_us(self.start):
            raise ValueError("a reservation ends after it starts")
