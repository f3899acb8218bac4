"""Instrument codes and delivery windows (trading standard §4): CLASS.REGION.TIER.YYYYMMDD.K."""

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

LOCAL = timezone(timedelta(hours=8))  # Asia/Shanghai: UTC+8, no DST
KINDS = ("D", "W", "M")


class InstrumentCodeError(ValueError):
    pass


@dataclass(frozen=True)
class Instrument:
    code: str
    resource_class: str
    region: str
    tier: str
    kind: str
    window_start: datetime  # aware, UTC
    window_hours: int

    @property
    def window_end(self) -> datetime:
        return self.window_start + timedelta(hours=self.window_hours)


def instrument_parse(code: str) -> Instrument:
    """Parse and check an instrument code: a W window starts on a Monday, an M window on the 1st."""
    parts = code.split(".")
    if len(parts) != 5:
        raise InstrumentCodeError(f"{code!r}: CLASS.REGION.TIER.YYYYMMDD.K")
    resource_class, region, tier, day, kind = parts
    if kind not in KINDS:
        raise InstrumentCodeError(f"{code!r}: the window kind is D, W or M")
    try:
        start_local = datetime.strptime(day, "%Y%m%d").replace(tzinfo=LOCAL)
    except ValueError as exc:
        raise InstrumentCodeError(f"{code!r}: {day!r} is not a date") from exc
    if kind == "W" and start_local.weekday() != 0:
        raise InstrumentCodeError(f"{code!r}: a W window starts on a Monday")
    if kind == "M" and start_local.day != 1:
        raise InstrumentCodeError(f"{code!r}: an M window starts on the 1st")
    if kind == "D":
        hours = 24
    elif kind == "W":
        hours = 168
    else:
        hours = 24 * calendar.monthrange(start_local.year, start_local.month)[1]
    return Instrument(code, resource_class, region, tier, kind, start_local.astimezone(UTC), hours)
