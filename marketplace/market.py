"""Market data (trading standard §2, §4): public reads of the order book and the tape.

Pure reads, for every organisation alike, so nothing here names an organisation: depth is
aggregated by price level, the tape carries number, price, quantity and time only.

Times are stored in UTC and cut in local time (Asia/Shanghai, UTC+8, no daylight saving): an
hourly bar starts on a whole local hour, a daily bar and an SCU-index day at local midnight.
Prices and sums stay exact ``Decimal``; the only rounding is the SCU index itself (see
``scu_index``).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, DecimalField, F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.models import Region
from marketplace.engine.instruments import LOCAL
from marketplace.models import Instrument, Order, OrderStatus, OrderType, Side, Trade
from marketplace.services.pricing import band_high_price, band_low_price

INTERVALS = {"1h": timedelta(hours=1), "1d": timedelta(days=1)}
DEPTH_LEVELS = 20
TAPE_LENGTH = 50
# The SCU index is a price per SCU: far below a fen for most classes (an H100 hour is 989 SCU),
# so it is published to 6 decimals, half-up; its exact sums are published beside it.
SCU_INDEX_QUANTUM = Decimal("0.000001")
SHANGHAI = ZoneInfo("Asia/Shanghai")  # LOCAL by name, for the database's date cut
_PRICE = DecimalField(max_digits=12, decimal_places=4)


@dataclass(frozen=True)
class Level:
    price: Decimal
    qty: int  # units resting at this price (remaining, not yet filled)
    orders: int
    cumulative: int  # units at this price and every better one


@dataclass(frozen=True)
class Depth:
    bids: list[Level]  # highest price first
    asks: list[Level]  # lowest price first


@dataclass(frozen=True)
class Bar:
    start: datetime  # local time, the first instant of the interval
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int  # units traded
    notional: Decimal  # CNY, exact
    trades: int


@dataclass(frozen=True)
class ScuIndex:
    region: str
    day: date
    trades: int
    notional: Decimal  # CNY, exact
    scu: Decimal  # exact: Σ qty × window hours × FP16 TFLOPS
    index: Decimal | None  # CNY per SCU, 6 decimals half-up; None without trades


@dataclass(frozen=True)
class Band:
    low: Decimal
    high: Decimal


# --- instruments ------------------------------------------------------------------------------


def instruments_quoted(
    *,
    resource_class: str | None = None,
    region: str | None = None,
    tier: str | None = None,
    kind: str | None = None,
    trading: bool | None = None,
    now: datetime | None = None,
) -> QuerySet[Instrument]:
    """Instruments with ``best_bid``, ``best_ask`` and ``last`` (the latest trade's price)
    annotated. ``trading=True``: only those whose window has not started (orders are taken);
    ``trading=False``: only those whose window has started."""
    now = now or timezone.now()
    qs = Instrument.objects.select_related("resource_class")
    if resource_class:
        qs = qs.filter(resource_class_id=resource_class)
    if region:
        qs = qs.filter(region_id=region)
    if tier:
        qs = qs.filter(tier=tier)
    if kind:
        qs = qs.filter(kind=kind)
    if trading is True:
        qs = qs.filter(window_start__gt=now)
    elif trading is False:
        qs = qs.filter(window_start__lte=now)
    resting = Order.objects.filter(instrument=OuterRef("pk"), status=OrderStatus.OPEN, type=OrderType.LIMIT)
    return qs.annotate(
        best_bid=Subquery(resting.filter(side=Side.BUY).order_by("-price").values("price")[:1], output_field=_PRICE),
        best_ask=Subquery(resting.filter(side=Side.SELL).order_by("price").values("price")[:1], output_field=_PRICE),
        last=Subquery(
            Trade.objects.filter(instrument=OuterRef("pk")).order_by("-number").values("price")[:1],
            output_field=_PRICE,
        ),
    ).order_by("resource_class_id", "region_id", "tier", "window_start", "kind")


def instrument_quoted(*, code: str) -> Instrument | None:
    return instruments_quoted().filter(code=code).first()


def instrument_band(instrument: Instrument) -> Band:
    """The §4 price band on the tick: 0.50 to 3.00 × the reference price, both ends included."""
    return Band(low=band_low_price(instrument), high=band_high_price(instrument))


# --- the book and the tape --------------------------------------------------------------------


def _levels(rows, *, levels: int) -> list[Level]:
    out, cumulative = [], 0
    for row in rows[:levels]:
        cumulative += row["qty"]
        out.append(Level(price=row["price"], qty=row["qty"], orders=row["orders"], cumulative=cumulative))
    return out


def instrument_depth(*, instrument: Instrument, levels: int = DEPTH_LEVELS) -> Depth:
    """Aggregated price levels of the orders resting on the book (status ``open``), remaining
    quantity per level, best first, with the cumulative quantity from the best price outwards.
    Orders accepted but not matched yet (``pending``) are not on the book and not shown."""
    rows = (
        Order.objects.filter(instrument=instrument, status=OrderStatus.OPEN, type=OrderType.LIMIT)
        .values("side", "price")
        .annotate(qty=Sum(F("qty") - F("filled_qty")), orders=Count("id"))
        .filter(qty__gt=0)
    )
    bids = rows.filter(side=Side.BUY).order_by("-price")
    asks = rows.filter(side=Side.SELL).order_by("price")
    return Depth(bids=_levels(list(bids[:levels]), levels=levels), asks=_levels(list(asks[:levels]), levels=levels))


def instrument_tape(*, instrument: Instrument) -> QuerySet[Trade]:
    """The public tape, newest first: read only number, price, qty and executed_at from it."""
    return Trade.objects.filter(instrument=instrument).order_by("-number")


def trades_last(*, instrument: Instrument, limit: int = TAPE_LENGTH) -> list[dict]:
    return list(instrument_tape(instrument=instrument).values("number", "price", "qty", "executed_at")[:limit])


def _bucket(at: datetime, interval: str) -> datetime:
    local = at.astimezone(LOCAL)
    if interval == "1d":
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local.replace(minute=0, second=0, microsecond=0)


def instrument_ohlcv(
    *, instrument: Instrument, interval: str, since: datetime | None = None, until: datetime | None = None
) -> list[Bar]:
    """Open, high, low, close and volume per interval (``1h`` or ``1d``, cut in local time),
    oldest first, only intervals that had trades. Open and close are the first and last trade by
    number (execution order); volume is in units; ``since`` ≤ executed_at < ``until``."""
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {sorted(INTERVALS)}")
    trades = Trade.objects.filter(instrument=instrument).order_by("number")
    if since is not None:
        trades = trades.filter(executed_at__gte=since)
    if until is not None:
        trades = trades.filter(executed_at__lt=until)
    bars: list[Bar] = []
    current = None
    hours = instrument.window_hours
    for price, qty, at in trades.values_list("price", "qty", "executed_at"):
        start = _bucket(at, interval)
        notional = price * qty * hours  # §4, exact (the stored notional, without SQLite's floats)
        if current is not None and current["start"] == start:
            current["high"] = max(current["high"], price)
            current["low"] = min(current["low"], price)
            current["close"] = price
            current["volume"] += qty
            current["notional"] += notional
            current["trades"] += 1
            continue
        if current is not None:
            bars.append(Bar(**current))
        current = {"start": start, "open": price, "high": price, "low": price, "close": price,
                   "volume": qty, "notional": notional, "trades": 1}  # fmt: skip
    if current is not None:
        bars.append(Bar(**current))
    # trades are numbered in execution order, so their buckets never go back in time
    return bars


# --- the SCU price index ----------------------------------------------------------------------


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=LOCAL)
    return start, start + timedelta(days=1)


def local_today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(LOCAL).date()


def scu_index(*, day: date, region: str | None = None) -> list[ScuIndex]:
    """The SCU price index (§2) of every region (or the one named) for one local day.

    A trade counts in the local day (Asia/Shanghai) of its execution, ``executed_at``, whatever
    its delivery window: the index prices what the market agreed that day. Only trades of
    classes with an SCU value (``fp16_tflops`` set) count; CPU classes are left out. For each
    region: notional = Σ trade notional, SCU = Σ qty × window hours × FP16 TFLOPS of the class,
    index = notional / SCU rounded half-up to 6 decimals (``None`` on a day without trades).
    """
    start, end = local_day_bounds(day)
    trades = Trade.objects.filter(
        executed_at__gte=start, executed_at__lt=end, instrument__resource_class__fp16_tflops__isnull=False
    )
    regions = [region] if region else list(Region.objects.order_by("code").values_list("code", flat=True))
    if region:
        trades = trades.filter(instrument__region_id=region)
    totals: dict[str, list] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    # summed in Python: exact decimals on every database (SQLite keeps decimals as floats)
    for region_code, price, qty, hours, tflops in trades.values_list(
        "instrument__region_id", "price", "qty", "instrument__window_hours", "instrument__resource_class__fp16_tflops"
    ):
        row = totals[region_code]
        row[0] += 1
        row[1] += price * qty * hours  # the trade's notional (§4), exact
        row[2] += qty * hours * tflops
    out = []
    for code in regions:
        count, notional, scu = totals.get(code, (0, Decimal(0), Decimal(0)))
        index = (notional / scu).quantize(SCU_INDEX_QUANTUM, rounding=ROUND_HALF_UP) if scu else None
        out.append(ScuIndex(region=code, day=day, trades=count, notional=notional, scu=scu, index=index))
    return out


# --- per day, for the operator's dashboard -----------------------------------------------------


@dataclass(frozen=True)
class MarketDay:
    day: date
    trades: int
    units: int  # Σ qty
    unit_hours: int  # Σ qty × window hours
    notional: Decimal  # CNY, exact
    scu: Decimal  # Σ qty × window hours × FP16 TFLOPS, classes with an SCU figure only
    index: Decimal | None  # all regions: their notional / SCU (§2), 6 decimals half-up


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def market_by_day(*, first: date, last: date) -> tuple[list[MarketDay], dict[str, list[ScuIndex]]]:
    """Every local day in [first, last]: traded volume and notional, and the SCU price index of
    all regions together and of each region (as ``scu_index`` computes it for one day). One
    grouped query: trades summed per local day, region, class and window length."""
    days = _days(first, last)
    if not days:
        return [], {}
    start, end = local_day_bounds(days[0])[0], local_day_bounds(days[-1])[1]
    rows = (
        Trade.objects.filter(executed_at__gte=start, executed_at__lt=end)
        .annotate(day=TruncDate("executed_at", tzinfo=SHANGHAI))
        .values("day", "instrument__region_id", "instrument__window_hours", "instrument__resource_class__fp16_tflops")
        .annotate(n=Count("id"), qty=Sum("qty"), notional=Sum("notional"))
        .order_by()
    )
    total: dict[date, list] = defaultdict(lambda: [0, 0, 0, Decimal(0), Decimal(0), Decimal(0)])
    regional: dict[tuple[date, str], list] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    for row in rows:
        day, hours, tflops = row["day"], row["instrument__window_hours"], row["instrument__resource_class__fp16_tflops"]
        t = total[day]
        t[0] += row["n"]
        t[1] += row["qty"]
        t[2] += row["qty"] * hours
        t[3] += row["notional"]
        if tflops is not None:  # CPU classes have no SCU figure (§2)
            scu = row["qty"] * hours * tflops
            t[4] += scu
            t[5] += row["notional"]
            r = regional[(day, row["instrument__region_id"])]
            r[0] += row["n"]
            r[1] += row["notional"]
            r[2] += scu

    def index(notional: Decimal, scu: Decimal) -> Decimal | None:
        return (notional / scu).quantize(SCU_INDEX_QUANTUM, rounding=ROUND_HALF_UP) if scu else None

    out = []
    for day in days:
        n, units, unit_hours, notional, scu, scu_notional = total.get(
            day, (0, 0, 0, Decimal(0), Decimal(0), Decimal(0))
        )
        out.append(MarketDay(day, n, units, unit_hours, notional, scu, index(scu_notional, scu)))
    per_region = {}
    for code in Region.objects.order_by("code").values_list("code", flat=True):
        series = []
        for day in days:
            n, notional, scu = regional.get((day, code), (0, Decimal(0), Decimal(0)))
            series.append(
                ScuIndex(region=code, day=day, trades=n, notional=notional, scu=scu, index=index(notional, scu))
            )
        per_region[code] = series
    return out, per_region
