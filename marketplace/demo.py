"""A market to look at after `make run`: the upcoming instruments listed, and on next week's
H100 and A800 in Shanghai (YRD/MAIN) a few rounds of asks from the provider and bids from the
demo buyers, matched, so the storefront shows a book, a tape, charts and contracts; and a retail
shelf of a few listings, per time and per volume, with a reservation on one. Idempotent."""

import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import Membership
from catalog.demo import BUYERS, PROVIDERS
from catalog.models import Pool, PoolStatus
from catalog.pricing import round_half_up
from catalog.selectors import reference_prices
from config.errors import ExchangeError
from marketplace.models import Instrument, Listing, Order
from marketplace.services import (
    ListingTerms,
    OrderTerms,
    ReservationTerms,
    instrument_match,
    instruments_list,
    listing_create,
    order_place,
    reservation_place,
    upcoming_windows,
)
from marketplace.services.instruments import instrument_code

PRODUCTS = (("H100-80G", 32), ("A800-80G", 16))  # class, largest order in units


def _member(email: str):
    membership = Membership.objects.select_related("user", "organisation").filter(user__email=email).first()
    return (membership.user, membership.organisation) if membership else (None, None)


def demo_market(*, seed: int = 7) -> dict:
    listed = instruments_list()
    provider = _member(PROVIDERS[0][1])  # Shanghai City Compute: Lingang, YRD/MAIN
    buyers = [_member(email) for _, email in BUYERS]
    if provider[0] is None or any(b[0] is None for b in buyers):
        return {"listed": len(listed), "orders": 0}
    week = next(day for day, kind in upcoming_windows(now=timezone.now()) if kind == "W")
    rng = random.Random(seed)  # noqa: S311 (demo prices, not secrets)
    placed = 0
    for cls, largest in PRODUCTS:
        code = instrument_code(resource_class=cls, region="YRD", tier="MAIN", day=week, kind="W")
        instrument = Instrument.objects.filter(code=code).first()
        if (
            instrument is None
            or Order.objects.filter(instrument=instrument, idempotency_key__startswith="demo-").exists()
        ):
            continue
        ref, tick, lot = instrument.reference_price, instrument.tick, instrument.lot
        for n in range(24):
            selling = n % 3 == 0
            user, org = provider if selling else buyers[n % len(buyers)]
            offset = rng.randint(-2, 8) if selling else rng.randint(-8, 2)
            terms = OrderTerms(
                instrument=code,
                side="sell" if selling else "buy",
                type="limit",
                price=round_half_up(ref * (1 + Decimal(offset) / 100), tick),
                qty=lot * rng.randint(1, largest // lot),
                tif="GTC",
            )
            try:
                order_place(actor=user, organisation=org, terms=terms, idempotency_key=f"demo-{code}-{n}")
                placed += 1
            except ExchangeError:
                continue  # a demo buyer out of funds: the rest of the demo goes on
        instrument_match(instrument_id=instrument.pk)
    return {"listed": len(listed), "orders": placed, "listings": demo_retail(buyers=buyers)}


# provider e-mail, pool code, class, units, billing, minimum minutes, markup on the reference price
SHELF = (
    ("ops@shcompute.example", "sh-lingang-main", "H100-80G", 32, "per_time", 60, Decimal("1.05")),
    ("ops@shcompute.example", "sh-pudong-edge", "4090", 24, "per_volume", 15, Decimal("1.10")),
    ("ops@guian.example", "guian-hub-1", "910B", 64, "per_time", 120, Decimal("0.95")),
    ("ops@qingyang.example", "qy-green-1", "VCPU-X86", 2048, "per_volume", 30, Decimal("1.00")),
)


def demo_retail(*, buyers) -> int:
    """List the shelf for the next 14 days (priced around the reference, never below cost) and
    reserve 8 H100 for tomorrow morning for the first demo buyer. Skipped for a provider that
    has listings already."""
    now = timezone.now().replace(second=0, microsecond=0)
    listed = []
    for email, code, cls, units, billing, minimum, markup in SHELF:
        user, org = _member(email)
        pool = Pool.objects.filter(provider=org, code=code, status=PoolStatus.CONNECTED).first() if org else None
        if pool is None or Listing.objects.filter(pool=pool, resource_class=cls).exists():
            continue
        (ref,) = reference_prices(resource_class=cls, region=pool.region_id)
        price = round_half_up(ref.reference_price * markup, Decimal("0.0001"))  # every markup keeps it above cost
        listed.append(listing_create(actor=user, organisation=org, terms=ListingTerms(
            pool_id=pool.pk, resource_class=cls, units=units, price=price, billing=billing, minimum_minutes=minimum,
            available_from=now, available_until=now + timedelta(days=14))))  # fmt: skip
    h100 = next((listing for listing in listed if listing.resource_class_id == "H100-80G"), None)
    if h100 is not None and buyers and buyers[0][0] is not None:
        start = timezone.localtime(now + timedelta(days=1)).replace(hour=9, minute=0)
        try:
            reservation_place(actor=buyers[0][0], organisation=buyers[0][1], idempotency_key="demo-retail-1",
                              terms=ReservationTerms(h100.pk, 8, start, start + timedelta(hours=4)))  # fmt: skip
        except ExchangeError:
            pass  # the demo buyer out of funds: the shelf is still there
    return len(listed)
