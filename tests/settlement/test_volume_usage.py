"""Reading per-volume usage for the invoice (settlement.services.volume_usage): set-based on
PostgreSQL, through the ORM on SQLite — either way the invoice's lines are the pure engine's on
the same records. This module runs on both databases; each checks its own reader against the
engine."""

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from marketplace.models import Billing
from settlement.rating import PER_VOLUME, Period, Product, UsageRecord, volume_lines
from settlement.selectors import rating_reference
from settlement.services import usage_ingest
from settlement.services.invoices import _volume_usage, invoice_draft
from tests.marketplace.test_retail import NOW, H, list_, reserve

pytestmark = pytest.mark.django_db

DECEMBER, JANUARY = date(2026, 12, 1), date(2027, 1, 1)
START = datetime(2026, 12, 29, 16, 0, tzinfo=UTC)  # 2026-12-30 00:00 in Shanghai
END = START + 72 * H  # 2027-01-02 00:00: the reservations cross the month's end


def records_for(rng, reservation, units, count, tag):
    """Records inside the reservation: 1 minute to 5 hours on whole seconds or microseconds, some
    quantities whole (busy units × seconds), the rest any decimal up to units × seconds."""
    out = []
    for i in range(count):
        length_us = rng.randint(60, 5 * 3600) * 1_000_000 + (rng.randrange(1_000_000) if i % 3 == 0 else 0)
        start = START + timedelta(
            microseconds=rng.randrange(int((END - START) / timedelta(microseconds=1)) - length_us)
        )
        if i % 4 == 0:
            quantity = Decimal(rng.randint(0, units) * length_us) / 1_000_000
        else:
            quantity = Decimal(rng.randrange(units * length_us + 1)) / 1_000_000
        out.append((f"{tag}-{i}", reservation, quantity, start, start + timedelta(microseconds=length_us)))
    # inside one time-of-use block, and a block's whole length (07:00–08:00 local flat on the 31st)
    out.append((f"{tag}-flat", reservation, Decimal(units * 3600), START + 31 * H, START + 32 * H))
    return out


def ingest(retail, records):
    bodies = [{"record_id": rid, "reservation": r.pk, "meter": "gpu_seconds", "quantity": str(q),
               "start": s.isoformat(), "end": e.isoformat()} for rid, r, q, s, e in records]  # fmt: skip
    for i in range(0, len(bodies), 500):
        assert {x.status for x in usage_ingest(pool=retail["pool"], records=bodies[i : i + 500])} == {"accepted"}


def engine(records, period):
    """The pure engine's lines on the records, by (product, price, provider)."""
    tariffs, _ = rating_reference()
    by_key = defaultdict(list)
    for rid, r, q, s, e in records:
        by_key[r.price, r.listing.provider_id].append(UsageRecord(rid, "gpu_seconds", q, s, e))
    return {
        ("H100-80G.YRD.MAIN.retail.volume", price, provider): volume_lines(
            product=Product("H100-80G.YRD.MAIN.retail.volume", PER_VOLUME, price),
            records=typed,
            tariff=tariffs["YRD"],
            period=Period(period.year, period.month),
        )
        for (price, provider), typed in by_key.items()
    }


def rated(org, period, **kwargs):
    got = {(k.product, k.price, k.provider_id): lines for k, lines in _volume_usage(org, period, **kwargs).items()}
    return {key: lines for key, lines in got.items() if lines}


def test_the_invoice_rates_per_volume_usage_like_the_engine_on_either_database(retail, clock):
    rng = random.Random(5)
    org = retail["acme"][1]
    cheap = list_(
        retail, billing=Billing.PER_VOLUME, price=Decimal("21.3600"), units=6, available_until=NOW + 40 * 24 * H
    )
    dear = list_(
        retail, billing=Billing.PER_VOLUME, price=Decimal("23.0000"), units=6, available_until=NOW + 40 * 24 * H
    )
    r1 = reserve(retail, cheap, units=3, start=START, end=END, key="r1")
    r2 = reserve(retail, cheap, units=3, start=START, end=END, key="r2")  # same product, price and provider as r1
    r3 = reserve(retail, dear, units=6, start=START, end=END, key="r3")
    clock["now"] = END + H
    early = records_for(rng, r1, 3, 150, "a") + records_for(rng, r2, 3, 100, "b") + records_for(rng, r3, 6, 150, "c")
    ingest(retail, early)
    received = clock["now"]
    clock["now"] = END + 2 * H
    late = records_for(rng, r1, 3, 40, "d") + records_for(rng, r3, 6, 40, "e")
    ingest(retail, late)

    for period in (DECEMBER, JANUARY):  # the records crossing midnight on the 31st are cut by both months
        expected = engine(early + late, period)
        assert len(expected) == 2 and all(expected.values())
        assert rated(org, period) == expected, connection.vendor
        assert rated(org, period, received_until=received) == engine(early, period), connection.vendor
    draft = invoice_draft(organisation=org, period=DECEMBER)
    lines = sorted((x.product, x.unit_price, x.provider_id, x.tou, x.discount, x.quantity, x.amount)
                   for x in draft.lines.all())  # fmt: skip
    assert lines == sorted(
        (*key, x.tou, x.discount, x.hours, x.amount) for key, xs in engine(early + late, DECEMBER).items() for x in xs
    )


def test_no_per_volume_usage_rates_to_nothing(retail):
    assert _volume_usage(retail["acme"][1], DECEMBER) == {}
