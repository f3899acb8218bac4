"""The capacity load PostgreSQL keeps (catalog 0005) is always the open commitments summed per
pool, class and range, whatever wrote them — sell orders offered and matched (moves), resold,
cancelled and expired, retail listings and reservations — and stays so when compacted."""

import threading
from collections import defaultdict

import pytest
from django.db import close_old_connections, connection, transaction

from catalog.capacity import LOAD_FOLD_ROWS
from catalog.models import CapacityCommitment, CapacityLoad, CommitmentKind
from catalog.services import (
    capacity_commit,
    capacity_load_compact,
    capacity_load_fold,
    capacity_release,
    capacity_supply_lock,
)
from marketplace.services import instrument_match
from tests.marketplace.conftest import build_shop, sell_or_buy
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


def crowd(pool, instrument, statements: int) -> None:
    """``statements`` load rows on the pool's key for the instrument's window: a commitment held
    and given back, over and over (each statement adds a row)."""
    for i in range(statements // 2):
        capacity_commit(pool_id=pool.pk, resource_class="H100-80G", kind=CommitmentKind.OFFERED, units=8,
                        start=instrument.window_start, end=instrument.window_end, source=f"crowd:{i}")  # fmt: skip
        capacity_release(source=f"crowd:{i}")


def key_rows(pool, instrument) -> int:
    return CapacityLoad.objects.filter(
        pool=pool, start=instrument.window_start, end=instrument.window_end, resource_class="H100-80G"
    ).count()


def test_a_sell_folds_its_pools_load_once_it_has_grown(market):
    """Every sell reads its pool's load rows, one per statement since the last compaction (a
    minute apart, by the periodic task): a sell that finds more than LOAD_FOLD_ROWS folds them, so
    the check stays a few rows long whatever the rate of sells."""
    gridco, instrument = market["pools"]["gridco"], market["instrument"]
    sell_or_buy(market["users"], market["orgs"], "gridco", instrument.code, "sell", 8, "12.00", "s1")
    crowd(gridco, instrument, LOAD_FOLD_ROWS - 2)
    sell_or_buy(market["users"], market["orgs"], "gridco", instrument.code, "sell", 8, "12.00", "s2")
    assert key_rows(gridco, instrument) == LOAD_FOLD_ROWS  # it read no more than the bound: left as they are
    crowd(gridco, instrument, 2)
    sell_or_buy(market["users"], market["orgs"], "gridco", instrument.code, "sell", 16, "12.00", "s3")
    assert key_rows(gridco, instrument) == 2  # folded into one, then the new offer's row
    assert load_sums() == open_sums()
    supply = capacity_supply_lock(provider=market["orgs"]["gridco"], region="YRD", tier="MAIN",
                                  resource_class="H100-80G", start=instrument.window_start,
                                  end=instrument.window_end)  # fmt: skip
    assert supply.sellable == {gridco.pk: 64 - 8 - 8 - 16}


@pytest.mark.django_db(transaction=True)
def test_folding_never_waits_and_each_row_is_folded_once(market):
    """Two transactions folding one key at once (two sells of a pool are serialised by its lock,
    but the periodic compaction and another class's or window's sells are not): the second skips
    the rows the first holds instead of waiting for it, and the sums come out right."""
    gridco, instrument = market["pools"]["gridco"], market["instrument"]
    capacity_commit(pool_id=gridco.pk, resource_class="H100-80G", kind=CommitmentKind.OFFERED, units=24,
                    start=instrument.window_start, end=instrument.window_end, source="kept")  # fmt: skip
    crowd(gridco, instrument, 20)
    key = [(gridco.pk, instrument.window_start, instrument.window_end)]
    outcome = []

    def second():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '2s'")
                capacity_load_fold(resource_class="H100-80G", keys=key)
                outcome.append(key_rows(gridco, instrument))
        except Exception as exc:  # noqa: BLE001 (asserted below)
            outcome.append(repr(exc))
        finally:
            close_old_connections()

    with transaction.atomic():
        capacity_load_fold(resource_class="H100-80G", keys=key)
        assert key_rows(gridco, instrument) == 1
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(10)
    # the second saw the 21 rows the first had deleted but not committed, all locked: it skipped them
    assert outcome == [21]
    assert key_rows(gridco, instrument) == 1
    assert load_sums() == open_sums() == {(gridco.pk, "H100-80G", instrument.window_start, instrument.window_end): 24}
