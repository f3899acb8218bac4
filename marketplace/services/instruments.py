"""Listing instruments (trading standard §4): for every class × region × tier with connected
capacity, the upcoming day, week and month windows, each with its reference price (§8) fixed at
listing. A periodic task calls ``instruments_list``; listing again changes nothing."""

from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import PoolResource, PoolStatus, ResourceClass
from catalog.selectors import reference_prices
from marketplace.engine import instrument_parse
from marketplace.engine.instruments import LOCAL
from marketplace.models import Instrument, MatchState

DAYS_AHEAD = 14
WEEKS_AHEAD = 4
MONTHS_AHEAD = 2


def upcoming_windows(*, now: datetime) -> list[tuple[date, str]]:
    """(first day, kind) of every window listed at ``now``: windows that start after it."""
    today = now.astimezone(LOCAL).date()
    windows = [(today + timedelta(days=i), "D") for i in range(1, DAYS_AHEAD + 1)]
    monday = today + timedelta(days=7 - today.weekday())
    windows += [(monday + timedelta(weeks=i), "W") for i in range(WEEKS_AHEAD)]
    first = today.replace(day=1)
    for _ in range(MONTHS_AHEAD):
        first = (first + timedelta(days=32)).replace(day=1)
        windows.append((first, "M"))
    return windows


def instrument_code(*, resource_class: str, region: str, tier: str, day: date, kind: str) -> str:
    return f"{resource_class}.{region}.{tier}.{day:%Y%m%d}.{kind}"


def instrument_ensure(*, code: str, now: datetime | None = None) -> Instrument:
    """List one instrument (idempotent): its window from the code, its reference price from §8."""
    now = now or timezone.now()
    existing = Instrument.objects.filter(code=code).first()
    if existing is not None:
        return existing
    parsed = instrument_parse(code)
    cls = ResourceClass.objects.get(code=parsed.resource_class)
    (row,) = reference_prices(resource_class=parsed.resource_class, region=parsed.region)
    try:
        with transaction.atomic():
            instrument = Instrument.objects.create(
                code=code,
                resource_class=cls,
                region_id=parsed.region,
                tier=parsed.tier,
                kind=parsed.kind,
                window_start=parsed.window_start,
                window_end=parsed.window_end,
                window_hours=parsed.window_hours,
                reference_price=row.reference_price,
                tick=cls.tick,
                lot=cls.lot,
                listed_at=now,
            )
            MatchState.objects.create(instrument=instrument)
    except IntegrityError:  # listed concurrently
        return Instrument.objects.get(code=code)
    return instrument


def instruments_list(*, now: datetime | None = None) -> list[str]:
    """List every upcoming window of every class × region × tier that has connected capacity;
    returns the codes listed now (those already listed are left as they are)."""
    now = now or timezone.now()
    products = (
        PoolResource.objects.filter(pool__status=PoolStatus.CONNECTED, units__gt=0)
        .values_list("resource_class_id", "pool__region_id", "pool__tier")
        .distinct()
    )
    known = set(Instrument.objects.filter(window_start__gt=now).values_list("code", flat=True))
    listed = []
    for resource_class, region, tier in sorted(set(products)):
        for day, kind in upcoming_windows(now=now):
            code = instrument_code(resource_class=resource_class, region=region, tier=tier, day=day, kind=kind)
            if code not in known:
                instrument_ensure(code=code, now=now)
                listed.append(code)
    return listed
