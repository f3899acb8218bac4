"""The capacity load PostgreSQL keeps (catalog 0005) is always the open commitments summed per
pool, class and range, whatever wrote them — sell orders offered and matched (moves), resold,
cancelled and expired, retail listings and reservations — and stays so when compacted."""

from collections import defaultdict

import pytest
from django.db import connection

from catalog.models import CapacityCommitment, CapacityLoad
from catalog.services import capacity_load_compact
from marketplace.services import instrument_match
from tests.marketplace.conftest import build_shop
from tests.marketplace.test_log_replay import random_stream

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def open_sums() -> dict:
    sums: dict[tuple, int] = defaultdict(int)
    for c in CapacityCommitment.objects.open():
        sums[(c.pool_id, c.resource_class_id, c.start, c.end)] += c.units
    return dict(sums)


def load_sums() -> dict:
    sums: dict[tuple, int] = defaultdict(int)
    for row in CapacityLoad.objects.all():
        sums[(row.pool_id, row.resource_class_id, row.start, row.end)] += row.units
    return {key: units for key, units in sums.items() if units}


@pytest.mark.parametrize("seed", [5, 6])
def test_the_load_is_the_open_commitments_summed_after_trading(market, seed):
    assert connection.vendor == "postgresql"
    random_stream(market, 140, seed)  # sells offered, matched in batches of 1-7, resold, cancelled
    instrument_match(instrument_id=market["instrument"].pk)
    sums = open_sums()
    assert len(sums) >= 2 and CapacityCommitment.objects.filter(released_at__isnull=False).exists()
    assert load_sums() == sums
    rows = CapacityLoad.objects.count()
    assert capacity_load_compact() == len(sums) < rows  # one row a key, the empty ones gone
    assert load_sums() == sums and CapacityLoad.objects.count() == len(sums)


def test_retail_and_releases_keep_it_too(make_org, reference_data, operator, fund):
    build_shop(make_org=make_org, operator=operator, fund=fund)  # listings, a reservation, a trade
    assert load_sums() == open_sums()
    # rows deleted (not released) count too: the triggers see every statement
    some = CapacityCommitment.objects.open().order_by("pk")[:3]
    CapacityCommitment.objects.filter(pk__in=[c.pk for c in some]).delete()
    assert load_sums() == open_sums()
