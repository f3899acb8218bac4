"""Order entry, matching and settlement through the services, on the database."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from catalog.capacity import capacity_summary
from catalog.models import CapacityCommitment
from config.errors import ExchangeError
from marketplace.models import Contract, ContractLeg, Order, OrderStatus, Trade
from marketplace.services import OrderTerms, instrument_match, order_cancel, order_place
from marketplace.services.pricing import band_high_price, band_low_price
from settlement.models import Hold, JournalTransaction, Purpose
from settlement.services import account_for, available_funds
from tests.marketplace.conftest import connected_pool

pytestmark = pytest.mark.django_db


def place(market, org, side, qty, price=None, tif="GTC", key=None, **extra):
    code = market["instrument"].code
    terms = OrderTerms(
        instrument=code,
        side=side,
        type="limit" if price else "market",
        qty=qty,
        tif=tif,
        price=Decimal(str(price)) if price else None,
        **extra,
    )
    place.counter = getattr(place, "counter", 0) + 1
    return order_place(
        actor=market["users"][org],
        organisation=market["orgs"][org],
        terms=terms,
        idempotency_key=key or f"k{place.counter}",
    )


def match(market):
    return instrument_match(instrument_id=market["instrument"].pk)


def sellable(market, pool):
    i = market["instrument"]
    (row,) = capacity_summary(pool_ids=[market["pools"][pool].pk], start=i.window_start, end=i.window_end)
    return row["committed"], row["offered"], row["sellable"]


def test_a_bid_meets_an_ask_at_the_makers_price_with_fees_a_contract_and_the_hold_captured(market):
    sell = place(market, "gridco", "sell", 16, "12.00")
    assert sellable(market, "gridco") == (0, 16, 48)
    buy = place(market, "acme", "buy", 8, "12.10")
    hold = Hold.objects.get(pk=buy.hold_id)
    # 12.10 × 8 × 168 = 16,262.40 and the taker fee 0.3 % = 48.7872 → 48.79
    assert hold.amount == Decimal("16311.19")
    assert (sell.seq, buy.seq) == (2, 3) and buy.status == OrderStatus.PENDING

    assert match(market) == 2
    (trade,) = Trade.objects.all()
    assert (trade.price, trade.qty, trade.maker_order_id) == (Decimal("12.00"), 8, sell.pk)
    # 12.00 × 8 × 168 = 16,128.00; buyer (taker) 0.3 % = 48.384 → 48.38; seller (maker) 0.1 % → 16.13
    assert (trade.notional, trade.buyer_fee, trade.seller_fee) == (Decimal("16128"), Decimal("48.38"), Decimal("16.13"))
    buy.refresh_from_db()
    sell.refresh_from_db()
    assert (buy.status, buy.filled_qty) == (OrderStatus.FILLED, 8)
    assert (sell.status, sell.filled_qty) == (OrderStatus.OPEN, 8)
    hold.refresh_from_db()
    assert (hold.captured, hold.released, hold.status) == (Decimal("16176.38"), Decimal("134.81"), "closed")
    acme = market["orgs"]["acme"]
    assert available_funds(organisation=acme).available == Decimal("1000000.00") - Decimal("16176.38")
    payable = account_for(organisation=market["orgs"]["gridco"], purpose=Purpose.PROVIDER_PAYABLE)
    assert payable.balance == Decimal("16111.87")
    assert account_for(purpose=Purpose.FEE_REVENUE).balance == Decimal("64.51")
    contract = Contract.objects.get()
    assert (contract.holder, contract.qty, contract.price) == (acme, 8, Decimal("12.00"))
    assert [(leg.pool, leg.units) for leg in contract.legs.all()] == [(market["pools"]["gridco"], 8)]
    # the pool: 8 committed to the contract, 8 still offered, 48 free
    assert sellable(market, "gridco") == (8, 8, 48)
    assert match(market) == 0  # nothing left to match: a rerun changes nothing
    assert Trade.objects.count() == 1


def test_a_batch_settles_in_one_netted_entry_that_its_trades_add_up_to(market):
    """One ``trade.settle`` transaction per matching batch, one posting per account: each the sum
    over the batch's trades (their notional and fees), so the batch reconciles against its trade
    rows; one ``hold.release`` for the orders it ended, likewise. Postings carry no source of
    their own: the batch (the transaction's source) names them."""
    place(market, "gridco", "sell", 16, "12.00")
    place(market, "westdc", "sell", 16, "12.10")
    buy = place(market, "acme", "buy", 24, "12.10")  # takes 16 @ 12.00, then 8 @ 12.10
    ioc = place(market, "bolt", "buy", 16, "12.00", tif="IOC")  # nothing left at 12.00: ends at once
    second = place(market, "bolt", "buy", 8, "12.10")  # a second buyer in the batch: the last 8 @ 12.10
    assert match(market) == 5
    i = market["instrument"].pk
    (settle,) = JournalTransaction.objects.filter(kind="trade.settle")
    assert (settle.idempotency_key, settle.source) == (f"settle:trade:{i}:1", f"match:{i}:2-6")
    trades = list(Trade.objects.order_by("number"))
    assert len(trades) == 3
    expected = {}
    for t in trades:
        amount = t.notional.quantize(Decimal("0.01"))
        for key, value in (
            (("paid", t.buyer_id), amount + t.buyer_fee),
            ((Purpose.PROVIDER_PAYABLE, t.seller_id), t.seller_fee - amount),
            ((Purpose.FEE_REVENUE, None), -(t.buyer_fee + t.seller_fee)),
        ):
            expected[key] = expected.get(key, 0) + value
    postings = list(settle.postings.select_related("account", "transaction"))
    lines = {(p.account.purpose, p.account.organisation_id): p.amount for p in postings}
    assert len(lines) == len(postings)  # one posting per account
    for org in (market["orgs"]["acme"].pk, market["orgs"]["bolt"].pk):
        # what a buyer's holds gave up: the trades' notional and fees, and what the filled
        # orders no longer need back to its funds (acme's 16 @ 12.00 under its 12.10 limit)
        lines[("paid", org)] = lines.pop((Purpose.BUYER_HOLDS, org)) + lines.pop((Purpose.BUYER_CASH, org), 0)
    assert lines == expected
    holds = Hold.objects.filter(pk__in=[buy.hold_id, second.hold_id])
    assert {(h.status, h.captured) for h in holds} == {("closed", expected[("paid", h.organisation_id)]) for h in holds}
    assert {p.origin for p in postings} == {f"match:{i}:2-6"}
    (release,) = JournalTransaction.objects.filter(kind="hold.release")
    ioc.refresh_from_db()
    assert (release.idempotency_key, ioc.end_reason) == (f"settle:order:{ioc.pk}", "ioc_remainder")
    ioc_hold = Hold.objects.get(pk=ioc.hold_id)
    bolt = market["orgs"]["bolt"].pk
    lines = {(p.account.purpose, p.account.organisation_id): p.amount for p in release.postings.all()}
    assert lines == {(Purpose.BUYER_HOLDS, bolt): ioc_hold.released, (Purpose.BUYER_CASH, bolt): -ioc_hold.released}


def test_a_trades_maker_is_its_buy_or_its_sell_order(market):
    """The maker needs no foreign-key check of its own: the database holds it to one of the sides."""
    sell = place(market, "gridco", "sell", 16, "12.00")
    place(market, "acme", "buy", 8, "12.10")
    other = place(market, "westdc", "sell", 8, "12.50")
    match(market)
    with pytest.raises(IntegrityError, match="trade_maker_is_a_side"), transaction.atomic():
        Trade.objects.filter(maker_order=sell).update(maker_order=other)


@pytest.mark.postgres
def test_what_trades_contracts_legs_commitments_and_orders_refer_to_must_exist_and_stay(market, operator):
    """Their references are checked once per statement by triggers, not by foreign keys: a row that
    refers to nothing is refused on insert and on update, and a row still referred to cannot be
    deleted nor renumbered; one that nothing refers to can."""
    place(market, "gridco", "sell", 8, "12.00")
    place(market, "acme", "buy", 8, "12.00")
    match(market)
    trade = Trade.objects.get()
    contract, leg = trade.contract, trade.contract.legs.get()
    commitment = CapacityCommitment.objects.get(source=f"contract:{contract.pk}:pool:{leg.pool_id}")
    copy = {f.attname: getattr(trade, f.attname) for f in Trade._meta.concrete_fields if not f.primary_key}
    buy = Order.objects.get(pk=trade.buy_order_id)
    order_copy = {f.attname: getattr(buy, f.attname) for f in Order._meta.concrete_fields if not f.primary_key}
    order_copy.update(seq=10**6, idempotency_key="copy", client_order_id="")
    refused = [
        lambda: Trade.objects.bulk_create([Trade(**{**copy, "number": 2}), Trade(**{**copy, "number": 3,
                                                                                  "buy_order_id": 999_999})]),
        lambda: Contract.objects.create(**{
            **{f.attname: getattr(contract, f.attname) for f in Contract._meta.concrete_fields if not f.primary_key},
            "trade_id": 999_999}),
        lambda: ContractLeg.objects.create(contract_id=contract.pk, pool_id=999_999, units=1),
        lambda: ContractLeg.objects.create(contract_id=999_999, pool_id=leg.pool_id, units=1),
        lambda: Contract.objects.filter(pk=contract.pk).update(holder_id=999_999),
        lambda: CapacityCommitment.objects.filter(pk=commitment.pk).update(resource_class_id="NO-SUCH-CLASS"),
        lambda: CapacityCommitment.objects.create(**{
            **{f.attname: getattr(commitment, f.attname) for f in CapacityCommitment._meta.concrete_fields
               if not f.primary_key}, "pool_id": 999_999, "source": "test"}),
        *(lambda column=column: Order.objects.create(**{**order_copy, column: 999_999})
          for column in ("instrument_id", "organisation_id", "created_by_id")),
        lambda: Order.objects.filter(pk=trade.buy_order_id).update(organisation_id=999_999),
    ]  # fmt: skip
    for write in refused:
        with pytest.raises(IntegrityError, match="refers to no row"), transaction.atomic():
            write()
    referred = {"marketplace_order": trade.buy_order_id, "marketplace_trade": trade.pk,
                "marketplace_contract": contract.pk, "catalog_pool": leg.pool_id,
                "accounts_organisation": trade.seller_id, "marketplace_instrument": trade.instrument_id,
                "accounts_user": buy.created_by_id}  # fmt: skip
    for table, key in referred.items():
        for statement in (f"DELETE FROM {table} WHERE id = %s", f"UPDATE {table} SET id = -id WHERE id = %s"):  # noqa: S608
            with pytest.raises(IntegrityError, match="still referred to"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(statement, [key])
    with connection.cursor() as cursor:  # an update that keeps the key is not a renumbering
        cursor.execute("UPDATE marketplace_order SET id = id WHERE id = %s", [trade.buy_order_id])
    spare = connected_pool(user=market["users"]["westdc"], organisation=market["orgs"]["westdc"], operator=operator,
                           code="westdc-spare")  # fmt: skip
    spare.delete()  # nothing refers to it


@pytest.mark.parametrize(
    ("side", "qty", "price", "extra", "code", "field"),
    [
        ("buy", 8, "12.005", {}, "off_tick", "price"),
        ("buy", 8, "below", {}, "price_out_of_band", "price"),
        ("buy", 8, "above", {}, "price_out_of_band", "price"),
        ("buy", 12, "12.00", {}, "bad_lot", "qty"),
        ("buy", 800, "12.00", {}, "insufficient_funds", "qty"),
        ("sell", 136, "12.00", {}, "insufficient_capacity", "qty"),
        ("buy", 8, "12.00", {"tif": "GTD"}, "bad_expiry", "expire_at"),
    ],
)
def test_refused_orders_say_why_and_leave_no_trace(market, side, qty, price, extra, code, field):
    org = "acme" if side == "buy" else "gridco"
    i, tick = market["instrument"], market["instrument"].tick
    price = {"below": band_low_price(i) - tick, "above": band_high_price(i) + tick}.get(price, price)
    before = (Order.objects.count(), Hold.objects.count(), CapacityCommitment.objects.count())
    with pytest.raises(ExchangeError) as refused:
        place(market, org, side, qty, price, **extra)
    assert refused.value.code == code
    assert field in refused.value.fields
    assert (Order.objects.count(), Hold.objects.count(), CapacityCommitment.objects.count()) == before
    market["instrument"].refresh_from_db()
    assert market["instrument"].last_seq == 1  # no sequence number was spent


def test_the_band_bounds_are_accepted(market):
    i = market["instrument"]
    low, high = band_low_price(i), band_high_price(i)
    assert low - i.tick < i.reference_price / 2 <= low  # the first tick inside [0.5 × ref, ...
    assert high <= i.reference_price * 3 < high + i.tick  # ... 3 × ref], bounds included
    assert place(market, "acme", "buy", 8, low).seq == 2
    assert place(market, "gridco", "sell", 8, high).seq == 3


def test_the_same_idempotency_key_gives_the_same_order_and_other_terms_conflict(market):
    first = place(market, "acme", "buy", 8, "12.00", key="same")
    assert place(market, "acme", "buy", 8, "12.00", key="same").pk == first.pk
    with pytest.raises(ExchangeError) as conflict:
        place(market, "acme", "buy", 16, "12.00", key="same")
    assert conflict.value.code == "conflict"
    assert Hold.objects.count() == 1


def test_a_cancel_gives_back_the_hold_and_the_capacity(market):
    buy = place(market, "acme", "buy", 8, "11.00")
    sell = place(market, "gridco", "sell", 24, "13.00")
    match(market)
    order_cancel(actor=market["users"]["acme"], organisation=market["orgs"]["acme"], order_id=buy.pk)
    order_cancel(actor=market["users"]["gridco"], organisation=market["orgs"]["gridco"], order_id=sell.pk)
    assert match(market) == 2
    buy.refresh_from_db()
    sell.refresh_from_db()
    assert (buy.status, buy.end_reason, sell.status) == (OrderStatus.CANCELLED, "cancelled", OrderStatus.CANCELLED)
    assert Hold.objects.get(pk=buy.hold_id).status == "closed"
    assert available_funds(organisation=market["orgs"]["acme"]).available == Decimal("1000000.00")
    assert sellable(market, "gridco") == (0, 0, 64)
    with pytest.raises(ExchangeError) as finished:
        order_cancel(actor=market["users"]["acme"], organisation=market["orgs"]["acme"], order_id=buy.pk)
    assert finished.value.code == "order_finished"


def test_another_organisation_cannot_cancel_an_order(market):
    buy = place(market, "acme", "buy", 8, "11.00")
    with pytest.raises(ExchangeError) as refused:
        order_cancel(actor=market["users"]["bolt"], organisation=market["orgs"]["bolt"], order_id=buy.pk)
    assert refused.value.code == "not_found"


def test_a_buyer_resells_its_contract_and_the_new_buyer_gets_the_same_pool(market):
    place(market, "gridco", "sell", 8, "12.00")
    place(market, "acme", "buy", 8, "12.00")
    match(market)
    before = sellable(market, "gridco")
    # acme has no pools: its sell is covered by the contract it holds
    resale = place(market, "acme", "sell", 8, "13.00")
    assert resale.allocations.get().contract is not None
    with pytest.raises(ExchangeError) as refused:
        place(market, "acme", "sell", 8, "13.00")
    assert refused.value.code == "insufficient_capacity"
    place(market, "bolt", "buy", 8, "13.00")
    match(market)
    original, resold = Contract.objects.order_by("pk")
    assert (original.holder.slug, original.held, original.resold) == ("acme", 0, 8)
    assert (resold.holder.slug, resold.qty, resold.price) == ("bolt", 8, Decimal("13.00"))
    assert [(leg.pool, leg.units) for leg in resold.legs.all()] == [(market["pools"]["gridco"], 8)]
    assert sellable(market, "gridco") == before  # the same 8 units, now bound to bolt
    # acme, the reseller, is owed the proceeds less its maker fee
    payable = account_for(organisation=market["orgs"]["acme"], purpose=Purpose.PROVIDER_PAYABLE)
    assert payable.balance == Decimal("13.00") * 8 * 168 - Decimal("17.47")


def test_a_pool_with_open_sell_orders_cannot_be_withdrawn(market):
    from catalog.services import pool_withdraw

    user, gridco = market["users"]["gridco"], market["orgs"]["gridco"]
    pool = market["pools"]["gridco"]
    sell = place(market, "gridco", "sell", 8, "13.00")
    match(market)
    with pytest.raises(ExchangeError) as refused:
        pool_withdraw(actor=user, organisation=gridco, pool_id=pool.pk)
    assert refused.value.code == "pool_in_use"
    order_cancel(actor=user, organisation=gridco, order_id=sell.pk)
    match(market)
    assert pool_withdraw(actor=user, organisation=gridco, pool_id=pool.pk).status == "disconnected"


def test_a_batchs_holds_move_the_funds_in_one_ledger_entry(market):
    from marketplace.services import orders_place_batch
    from settlement.models import JournalTransaction

    acme = market["orgs"]["acme"]
    terms = [OrderTerms(instrument=market["instrument"].code, side="buy", type="limit", qty=8, tif="GTC",
                        price=Decimal(p)) for p in ("11.00", "11.50", "12.00")]  # fmt: skip
    results = orders_place_batch(actor=market["users"]["acme"], organisation=acme, orders=terms, idempotency_key="b")
    holds = [Hold.objects.get(pk=r.order.hold_id) for r in results]
    assert [h.reference for h in holds] == [f"order {r.order.pk} {market['instrument'].code}" for r in results]
    (entry,) = JournalTransaction.objects.filter(kind="hold.place")
    assert entry.idempotency_key == f"order:{results[0].order.pk}:hold:place"
    assert entry.source == f"holds:{holds[0].pk}-{holds[-1].pk}"
    total = sum(h.amount for h in holds)
    assert sorted(entry.postings.values_list("amount", flat=True)) == [-total, total]
    assert available_funds(organisation=acme).holds == total
    # one order later: its own entry, as before
    place(market, "acme", "buy", 8, "10.00")
    single = JournalTransaction.objects.filter(kind="hold.place").exclude(pk=entry.pk).get()
    assert single.source == f"hold:{Order.objects.get(price=Decimal('10.00')).hold_id}"


def test_a_time_rule_is_checked_again_at_the_instruments_time(market, monkeypatch):
    """Entry decides at the time it reads, then takes the instrument's time under its lock; an order
    whose GTD expiry falls in between is refused, and leaves no trace (no seq, no hold)."""
    from django.utils import timezone

    from marketplace.services import orders_place_batch

    t0 = timezone.now()
    clock = iter([t0])  # the first reading (deciding), then ten minutes later (the instrument's time)
    monkeypatch.setattr(timezone, "now", lambda: next(clock, t0 + timedelta(minutes=10)))
    code = market["instrument"].code
    terms = [
        OrderTerms(instrument=code, side="buy", type="limit", qty=8, tif="GTD", price=Decimal("11.00"),
                   expire_at=t0 + timedelta(minutes=5)),
        OrderTerms(instrument=code, side="buy", type="limit", qty=8, tif="GTC", price=Decimal("11.00")),
    ]  # fmt: skip
    results = orders_place_batch(
        actor=market["users"]["acme"], organisation=market["orgs"]["acme"], orders=terms, idempotency_key="t"
    )
    assert results[0].error.code == "bad_expiry" and results[0].order is None
    assert (results[1].order.seq, results[1].order.created_at) == (2, t0 + timedelta(minutes=10))
    assert Hold.objects.count() == 1 and Order.objects.count() == 1
    market["instrument"].refresh_from_db()
    assert market["instrument"].last_seq == 2
