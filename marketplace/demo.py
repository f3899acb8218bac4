"""A market to look at after `make run`: the upcoming instruments listed, and on next week's
H100 and A800 in Shanghai (YRD/MAIN) a few rounds of asks from the provider and bids from the
demo buyers, matched, so the storefront shows a book, a tape, charts and contracts. Idempotent."""

import random
from decimal import Decimal

from django.utils import timezone

from accounts.models import Membership
from catalog.demo import BUYERS, PROVIDERS
from catalog.pricing import round_half_up
from config.errors import ExchangeError
from marketplace.models import Instrument, Order
from marketplace.services import OrderTerms, instrument_match, instruments_list, order_place, upcoming_windows
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
    return {"listed": len(listed), "orders": placed}
