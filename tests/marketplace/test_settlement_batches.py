"""A matching batch settles its trades in one netted ledger entry: on a random stream (resales,
cancels, IOC and FOK, market orders, batches of 1 to 7 events), every batch's postings are the sums
of its own trades' figures, account by account, and every trade is in exactly one batch."""

from collections import defaultdict
from decimal import Decimal

import pytest

from marketplace.models import Trade
from marketplace.services import instrument_match
from settlement.models import JournalTransaction, Purpose
from tests.marketplace.test_log_replay import random_stream

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")


def test_every_batch_settlement_is_the_sum_of_its_own_trades(market):
    instrument = market["instrument"]
    random_stream(market, 160, seed=23)
    instrument_match(instrument_id=instrument.pk)
    entries = JournalTransaction.objects.filter(kind="trade.settle").prefetch_related("postings__account")
    assert len(entries) > 5, "too few batches with trades: nothing was tested"
    settled = []
    for entry in entries:
        kind, instrument_id, span = entry.source.split(":")
        first, last = map(int, span.split("-"))
        assert (kind, int(instrument_id)) == ("match", instrument.pk)
        trades = list(Trade.objects.filter(instrument_id=instrument_id, seq__gte=first, seq__lte=last))
        expected: dict[tuple, Decimal] = defaultdict(Decimal)
        for t in trades:
            amount = t.notional.quantize(CENT)
            expected[("paid", t.buyer_id)] += amount + t.buyer_fee  # from the buyer's hold and funds
            expected[(Purpose.PROVIDER_PAYABLE, t.seller_id)] += t.seller_fee - amount
            expected[(Purpose.FEE_REVENUE, None)] -= t.buyer_fee + t.seller_fee
        lines: dict[tuple, Decimal] = defaultdict(Decimal)
        accounts = [(p.account.purpose, p.account.organisation_id) for p in entry.postings.all()]
        assert len(accounts) == len(set(accounts)), "one posting per account"
        for p in entry.postings.all():
            buyer_side = p.account.purpose in (Purpose.BUYER_HOLDS, Purpose.BUYER_CASH)
            key = ("paid", p.account.organisation_id) if buyer_side else (p.account.purpose, p.account.organisation_id)
            lines[key] += p.amount
            assert p.origin == entry.source
        assert {k: v for k, v in lines.items() if v} == {k: v for k, v in expected.items() if v}, entry.source
        settled += [t.pk for t in trades]
    assert sorted(settled) == sorted(Trade.objects.values_list("pk", flat=True))
    buyers = {market["orgs"]["acme"].pk, market["orgs"]["bolt"].pk}
    assert Trade.objects.filter(seller_id__in=buyers).exists(), "no resale traded: no buyer was tested as a seller"
