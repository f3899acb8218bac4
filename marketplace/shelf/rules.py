"""The shelf's pure rules (trading standard §2, §3, §7): a product's key, its card, filtering and
sorting the cards, and a region's time-of-use hours. Plain Python, exact decimals, no Django."""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

TRADE_MODES = ("wholesale", "retail")
BILLING_MODES = ("per_time", "per_volume")
CITIES = ("BJ", "SH", "GZ", "CD")  # the city cores every region publishes a round trip to
DEFAULT_CITY = "BJ"
# A price per SCU is far below a fen (an H100 hour is 989 SCU): shown to 6 places, half-up, as
# the SCU index is; filters and sorting use the exact quotient.
SCU_PRICE_QUANTUM = Decimal("0.000001")
SORTS = ("price", "scu_price", "latency", "green", "availability")


@dataclass(frozen=True)
class ProductKey:
    """A product (§3): resource class + region + site tier + trade mode + billing mode."""

    resource_class: str
    region: str
    tier: str
    mode: str  # wholesale | retail
    billing: str  # per_time | per_volume (wholesale is always per_time)

    @property
    def order(self) -> tuple:
        """Shelf order: class, region, tier, wholesale before retail, per time before per volume."""
        return (self.resource_class, self.region, self.tier, TRADE_MODES.index(self.mode),
                BILLING_MODES.index(self.billing))  # fmt: skip

    @property
    def slug(self) -> str:
        return f"{self.resource_class}.{self.region}.{self.tier}.{self.mode}.{self.billing}"

    @classmethod
    def parse(cls, slug: str) -> "ProductKey | None":
        """The key a slug names, or None if it names no possible product (the class, region and
        tier are checked against the database by the caller)."""
        parts = slug.split(".")
        if len(parts) != 5 or not all(parts):
            return None
        key = cls(*parts)
        if key.mode not in TRADE_MODES or key.billing not in BILLING_MODES:
            return None
        if key.mode == "wholesale" and key.billing != "per_time":
            return None
        return key


@dataclass(frozen=True)
class Card:
    """One product on the shelf and the figures its card shows."""

    key: ProductKey
    region_name: str  # in the visitor's language
    tier_name: str
    best_price: Decimal | None  # CNY per unit-hour; None when nothing is offered and no reference
    price_is_reference: bool  # wholesale with an empty book: the instruments' reference price
    scu_price: Decimal | None  # best price ÷ the class's FP16 TFLOPS, exact; None for CPU classes
    available: int  # units offered now: wholesale resting asks, retail free units of the listings
    latency_ms: Decimal | None  # the region's round trip to the chosen city core
    green_share: Decimal | None  # units-weighted over the product's pools, 0–1, exact
    offers: int  # instruments (wholesale) or listings (retail) behind the card

    @property
    def scu_price_shown(self) -> Decimal | None:
        return None if self.scu_price is None else self.scu_price.quantize(SCU_PRICE_QUANTUM, ROUND_HALF_UP)

    @property
    def green_percent(self) -> Decimal | None:
        return None if self.green_share is None else (self.green_share * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)


def price_per_scu(price: Decimal | None, tflops: Decimal | None) -> Decimal | None:
    """§2: a unit-hour of class C is tflops(C) SCU, so one SCU costs price ÷ tflops (exact)."""
    if price is None or not tflops:
        return None
    return price / Decimal(tflops)


def weighted_share(parts: Iterable[tuple[int, Decimal]]) -> Decimal | None:
    """Σ units × share ÷ Σ units over (units, share) pairs; None without units."""
    units = total = Decimal(0)
    for n, share in parts:
        units += n
        total += n * share
    return total / units if units else None


@dataclass(frozen=True)
class Criteria:
    """What the buyer filters and sorts the shelf by (every field optional)."""

    resource_class: str = ""
    region: str = ""
    tier: str = ""
    mode: str = ""
    billing: str = ""
    max_price: Decimal | None = None
    max_latency: Decimal | None = None
    min_green: Decimal | None = None  # percent, 0–100
    available_only: bool = False
    sort: str = ""


def _matches(card: Card, c: Criteria) -> bool:
    k = card.key
    if (c.resource_class and k.resource_class != c.resource_class) or (c.region and k.region != c.region):
        return False
    if (c.tier and k.tier != c.tier) or (c.mode and k.mode != c.mode) or (c.billing and k.billing != c.billing):
        return False
    if c.max_price is not None and (card.best_price is None or card.best_price > c.max_price):
        return False
    if c.max_latency is not None and (card.latency_ms is None or card.latency_ms > c.max_latency):
        return False
    if c.min_green is not None and (card.green_share is None or card.green_share * 100 < c.min_green):
        return False
    return not (c.available_only and card.available <= 0)


def _sort_key(sort: str):
    """Cheapest, nearest, greenest, most available first; cards without the figure last; ties in
    product order."""

    def key(card: Card):
        value = {
            "price": card.best_price,
            "scu_price": card.scu_price,
            "latency": card.latency_ms,
            "green": None if card.green_share is None else -card.green_share,
            "availability": -card.available,
        }[sort]
        return (value is None, value if value is not None else 0, card.key.order)

    return key


def shelf_select(cards: Iterable[Card], criteria: Criteria) -> list[Card]:
    """The cards that match, sorted (by product without a sort)."""
    chosen = [card for card in cards if _matches(card, criteria)]
    if criteria.sort in SORTS:
        return sorted(chosen, key=_sort_key(criteria.sort))
    return sorted(chosen, key=lambda card: card.key.order)


def exact_price(value: Decimal) -> Decimal:
    """A price per unit-hour written as prices are (4 places: 32.0400, not 32.04000000), or
    exactly when a time-of-use multiplier made it finer (31.99995)."""
    four = value.quantize(Decimal("0.0001"))
    return four if four == value else value.normalize()


@dataclass(frozen=True)
class TouPeriodHours:
    kind: str  # peak | flat | valley
    multiplier: Decimal
    price: Decimal | None  # price × multiplier, exact (see exact_price); None without a price
    hours: list[tuple[int, int]]  # local [from, to) hour ranges, e.g. [(8, 11), (17, 21)]

    @property
    def hours_text(self) -> str:
        return ", ".join(f"{a:02d}:00–{b:02d}:00" for a, b in self.hours)


def tou_hours(
    *, by_local_hour: list[str], multipliers: dict[str, Decimal], price: Decimal | None = None
) -> list[TouPeriodHours]:
    """A region's time-of-use table (§7) as periods, dearest first: each with its multiplier, the
    price it makes of ``price`` and the local hours it covers (contiguous hours as one range)."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    for hour, kind in enumerate(by_local_hour):
        runs = ranges.setdefault(kind, [])
        if runs and runs[-1][1] == hour:
            runs[-1] = (runs[-1][0], hour + 1)
        else:
            runs.append((hour, hour + 1))
    periods = sorted(ranges, key=lambda kind: (-multipliers.get(kind, Decimal(0)), kind))
    return [
        TouPeriodHours(
            kind=kind,
            multiplier=multipliers[kind],
            price=None if price is None else exact_price(price * multipliers[kind]),
            hours=ranges[kind],
        )
        for kind in periods
    ]
