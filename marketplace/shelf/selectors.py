"""Reads for the shelf (货架, trading standard §3): every product's card in a fixed number of
queries, whatever the number of instruments, listings and pools; a product's instruments and
listings for its page. Public market data: nothing here names a buyer."""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db.models import F, IntegerField, OuterRef, Subquery, Sum
from django.utils import timezone

from catalog.capacity import standing_units_at
from catalog.models import PoolResource, PoolStatus, Region, ResourceClass, Tier
from marketplace import market, selectors
from marketplace.models import Listing, Order, OrderStatus, OrderType, Side
from marketplace.shelf.rules import Card, ProductKey, price_per_scu, weighted_share


def _ask_units():
    """Units resting on an instrument's ask side (remaining, limit sells on the book)."""
    return Subquery(
        Order.objects.filter(instrument=OuterRef("pk"), status=OrderStatus.OPEN, type=OrderType.LIMIT, side=Side.SELL)
        .order_by()
        .values("instrument")
        .annotate(units=Sum(F("qty") - F("filled_qty")))
        .values("units"),
        output_field=IntegerField(),
    )


def _scoped(qs, key: ProductKey | None, *, cls: str, region: str, tier: str):
    """``qs`` narrowed to the key's class, region and tier (all of it without a key)."""
    if key is None:
        return qs
    return qs.filter(**{cls: key.resource_class, region: key.region, tier: key.tier})


def listings_free(*, listings, now: datetime) -> dict[int, int]:
    """Each listing's units free now (or in its first hour, if it starts later), one query."""
    offers = {listing.capacity_prefix: max(now, listing.available_from) for listing in listings}
    free = standing_units_at(offers=offers, pool_ids={listing.pool_id for listing in listings})
    return {listing.pk: free[listing.capacity_prefix] for listing in listings}


def shelf_cards(*, city: str, language: str = "en", key: ProductKey | None = None,
                now: datetime | None = None) -> list[Card]:  # fmt: skip
    """One card per product with something to sell (a trading instrument, an open listing of a
    connected pool), or only ``key``'s. Six queries.

    Wholesale: best price = the lowest resting ask over the product's trading instruments, or, on
    an empty book, the lowest of their reference prices (marked); available = the units resting
    on their ask sides; pools = the connected pools of the class in the region and tier.
    Retail: best price = the lowest open listing price; available = the listings' free units now;
    pools = the listings' pools. Green share: over the pools, weighted by their units of the class.
    """
    now = now or timezone.now()
    tflops = dict(ResourceClass.objects.values_list("code", "fp16_tflops"))
    regions = {code: (zh, en, rtt) for code, zh, en, rtt in Region.objects.values_list("code", "name_zh", "name_en",
                                                                                        "rtt_ms")}  # fmt: skip
    # connected pools' units and green share, by class × region × tier and by pool
    pool_units: dict[tuple, list[tuple[int, Decimal]]] = defaultdict(list)
    by_pool: dict[tuple[int, str], tuple[int, Decimal]] = {}
    resources = _scoped(
        PoolResource.objects.filter(pool__status=PoolStatus.CONNECTED),
        key, cls="resource_class_id", region="pool__region_id", tier="pool__tier",
    )  # fmt: skip
    for pool_id, cls, region, tier, units, green in resources.values_list(
        "pool_id", "resource_class_id", "pool__region_id", "pool__tier", "units", "pool__green_power_share"
    ):
        pool_units[(cls, region, tier)].append((units, green))
        by_pool[(pool_id, cls)] = (units, green)

    offers: dict[ProductKey, dict] = {}

    def slot(k: ProductKey) -> dict:
        return offers.setdefault(k, {"asks": [], "references": [], "available": 0, "offers": 0, "pools": set()})

    if key is None or key.mode == "wholesale":
        scope = {"resource_class": key.resource_class, "region": key.region, "tier": key.tier} if key else {}
        instruments = market.instruments_quoted(trading=True, now=now, **scope).annotate(ask_units=_ask_units())
        for cls, region, tier, reference, best_ask, units in instruments.values_list(
            "resource_class_id", "region_id", "tier", "reference_price", "best_ask", "ask_units"
        ):
            s = slot(ProductKey(cls, region, tier, "wholesale", "per_time"))
            s["offers"] += 1
            s["references"].append(reference)
            if best_ask is not None:
                s["asks"].append(best_ask)
            s["available"] += units or 0
    if key is None or key.mode == "retail":
        listings = list(
            _scoped(
                Listing.objects.open(now).filter(pool__status=PoolStatus.CONNECTED),
                key, cls="resource_class_id", region="pool__region_id", tier="pool__tier",
            ).filter(**({"billing": key.billing} if key else {}))
            .only("pk", "pool_id", "resource_class_id", "price", "billing", "available_from")
            .annotate(region=F("pool__region_id"), tier=F("pool__tier"))
        )  # fmt: skip
        free = listings_free(listings=listings, now=now)
        for listing in listings:
            s = slot(ProductKey(listing.resource_class_id, listing.region, listing.tier, "retail", listing.billing))
            s["offers"] += 1
            s["asks"].append(listing.price)
            s["available"] += free[listing.pk]
            s["pools"].add(listing.pool_id)

    cards = []
    for k, s in offers.items():
        if key is not None and k != key:
            continue
        zh, en, rtt = regions[k.region]
        best = min(s["asks"], default=None)
        reference = best is None and bool(s["references"])
        if reference:
            best = min(s["references"])
        if k.mode == "wholesale":
            green = weighted_share(pool_units.get((k.resource_class, k.region, k.tier), []))
        else:
            green = weighted_share(
                by_pool[(p, k.resource_class)] for p in s["pools"] if (p, k.resource_class) in by_pool
            )
        latency = rtt.get(city)
        cards.append(
            Card(
                key=k, region_name=zh if language.startswith("zh") else en, tier_name=str(Tier(k.tier).label),
                best_price=best,
                price_is_reference=reference, scu_price=price_per_scu(best, tflops.get(k.resource_class)),
                available=s["available"], latency_ms=None if latency is None else Decimal(str(latency)),
                green_share=green, offers=s["offers"],
            )
        )  # fmt: skip
    return sorted(cards, key=lambda card: card.key.order)


def product_instruments(*, key: ProductKey, now: datetime | None = None):
    """A wholesale product's trading instruments (D, W, M windows), soonest first, quoted."""
    qs = market.instruments_quoted(
        resource_class=key.resource_class, region=key.region, tier=key.tier, trading=True, now=now
    )
    return qs.order_by("window_start", "kind")


def product_listings(*, key: ProductKey, now: datetime | None = None) -> list[Listing]:
    """A retail product's open listings, cheapest first, each with ``free`` set (units free now,
    or in its first hour if it starts later)."""
    now = now or timezone.now()
    listings = list(
        selectors.listings_open(resource_class=key.resource_class, region=key.region, tier=key.tier,
                                billing=key.billing).order_by("price", "pk")
    )  # fmt: skip
    free = listings_free(listings=listings, now=now)
    for listing in listings:
        listing.free = free[listing.pk]
    return listings
