"""The supervision record (§9): an instrument's exported log replays to exactly the trades the
exchange stored, through the same engine core — on a random stream entered through the services."""

import gc
import io
import json
import random
from decimal import Decimal

import pytest
from django.core.management import call_command

from config.errors import ExchangeError
from marketplace.models import Order, OrderStatus, Trade
from marketplace.services import OrderTerms, books_forget, instrument_match, order_cancel, order_place

pytestmark = pytest.mark.django_db


def stored_trades(instrument):
    return [
        {
            "trade": t.number,
            "seq": t.seq,
            "instrument": instrument.code,
            "price": str(t.price.quantize(instrument.tick.normalize())),
            "qty": t.qty,
            "buy_order_id": str(t.buy_order_id),
            "sell_order_id": str(t.sell_order_id),
            "maker_order_id": str(t.maker_order_id),
        }
        for t in Trade.objects.filter(instrument=instrument).order_by("number")
    ]


def random_stream(market, n, seed, *, match=True):
    """Orders and cancels from every organisation; with ``match``, matched now and then as they come."""
    rng = random.Random(seed)
    instrument = market["instrument"]
    ref = instrument.reference_price
    entered = []
    for i in range(n):
        if entered and rng.random() < 0.15:
            org, order = rng.choice(entered)
            try:
                order_cancel(actor=market["users"][org], organisation=market["orgs"][org], order_id=order.pk)
            except ExchangeError:
                pass
            continue
        org = rng.choice(["gridco", "westdc", "acme", "bolt"])
        side = "sell" if org in ("gridco", "westdc") else "buy"
        if org in ("acme", "bolt") and rng.random() < 0.2:  # buyers resell what they hold
            side = "sell"
        kind = "market" if rng.random() < 0.1 else "limit"
        tif = rng.choice(["GTC", "GTC", "GTC", "IOC", "FOK"]) if kind == "limit" else rng.choice(["IOC", "FOK"])
        price = (
            (ref + Decimal(rng.randint(-30, 30)) * instrument.tick).quantize(instrument.tick)
            if kind == "limit"
            else None
        )
        terms = OrderTerms(
            instrument=instrument.code, side=side, type=kind, qty=8 * rng.randint(1, 3), tif=tif, price=price
        )
        try:
            order = order_place(
                actor=market["users"][org],
                organisation=market["orgs"][org],
                terms=terms,
                idempotency_key=f"r{seed}-{i}",
            )
        except ExchangeError as exc:
            assert exc.code in ("insufficient_capacity", "insufficient_funds"), exc.code
            continue
        entered.append((org, order))
        if match and rng.random() < 0.3:
            instrument_match(instrument_id=instrument.pk, limit=rng.randint(1, 7))
    if match:
        instrument_match(instrument_id=instrument.pk)


def replay(path) -> list[dict]:
    out = io.StringIO()
    call_command("replay", str(path), stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_exported_log_replays_to_the_stored_trades(market, tmp_path, seed):
    random_stream(market, 120, seed)
    instrument = market["instrument"]
    log = tmp_path / "log.jsonl"
    call_command("export_order_log", instrument.code, output=str(log))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0]["event"] == "instrument" and [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    trades = stored_trades(instrument)
    assert len(trades) > 10
    assert replay(log) == trades
    # every order reached a state, no pending left, and quantity is conserved
    assert not Order.objects.filter(status=OrderStatus.PENDING).exists()
    for order in Order.objects.all():
        assert (order.filled_qty == order.qty) == (order.status == OrderStatus.FILLED), order
    bought = sum(o.filled_qty for o in Order.objects.filter(side="buy"))
    sold = sum(o.filled_qty for o in Order.objects.filter(side="sell"))
    assert bought == sold == sum(t["qty"] for t in trades)


def test_a_worker_that_forgets_its_books_rebuilds_them_from_the_log(market, tmp_path):
    random_stream(market, 60, 7)
    instrument = market["instrument"]
    books_forget()  # a new worker process: the books are rebuilt from the database
    assert instrument_match(instrument_id=instrument.pk) == 0
    random_stream(market, 60, 8)  # and matching goes on exactly as one uninterrupted run would
    log = tmp_path / "log.jsonl"
    call_command("export_order_log", instrument.code, output=str(log))
    assert replay(log) == stored_trades(instrument)


def test_a_book_that_read_ahead_and_was_overtaken_is_rebuilt_not_used(market, tmp_path):
    """A full batch applies the next batch's events to its books while its own last writes run.
    If another worker then matches those events first, the books' state (and what they read
    ahead) is stale: the next run must see ``matched_seq`` moved and rebuild, never apply it."""
    from marketplace.services import matching

    instrument = market["instrument"]
    random_stream(market, 160, 11, match=False)
    matching._batch(instrument.pk, limit=7, sweep_at=None)  # a full batch: the next 7 applied ahead
    ahead_book = matching._books[instrument.pk]
    assert ahead_book.ahead is not None and len(ahead_book.ahead[0]) == 7
    books_forget()  # another worker, with books of its own, matches the next batches first
    matching._batch(instrument.pk, limit=7, sweep_at=None)
    matching._batch(instrument.pk, limit=5, sweep_at=None)
    matching._books[instrument.pk] = ahead_book  # this worker comes back with what it read ahead
    instrument_match(instrument_id=instrument.pk, limit=7)
    log = tmp_path / "log.jsonl"
    call_command("export_order_log", instrument.code, output=str(log))
    trades = stored_trades(instrument)
    assert trades
    assert replay(log) == trades
    assert [t["trade"] for t in trades] == list(range(1, len(trades) + 1))


@pytest.mark.postgres
def test_a_batch_whose_trades_are_refused_leaves_nothing_and_the_next_run_matches_it_whole(market, tmp_path):
    """A batch's COPYs return before PostgreSQL has finished them (config.rows.copies_unawaited):
    a refusal found after the worker went on must still fail the whole batch. Here a trade
    already holds the batch's first trade number, so the trades' COPY is refused by the
    instrument's unique trade numbers while the worker builds the contracts."""
    from django.db import IntegrityError

    from marketplace.models import Contract, MatchState
    from settlement.models import Hold, Posting

    instrument = market["instrument"]
    random_stream(market, 160, 5, match=False)
    buy = Order.objects.filter(instrument=instrument, side="buy").first()
    sell = Order.objects.filter(instrument=instrument, side="sell").first()
    blocker = Trade.objects.create(
        instrument=instrument, number=1, seq=buy.seq, price=Decimal("1.00"), qty=1, buy_order=buy, sell_order=sell,
        maker_order=buy, buyer_id=buy.organisation_id, seller_id=sell.organisation_id, notional=Decimal("1.00"),
        buyer_fee=Decimal(0), seller_fee=Decimal(0), executed_at=buy.created_at,
    )  # fmt: skip
    matched = MatchState.objects.get(instrument=instrument).matched_seq
    holds = sorted(Hold.objects.values_list("pk", "captured", "released", "status"))
    postings = Posting.objects.count()
    with pytest.raises(IntegrityError, match="trade_number_unique"):
        instrument_match(instrument_id=instrument.pk)
    assert gc.isenabled(), "the failed batch left the cyclic collector off"
    assert MatchState.objects.get(instrument=instrument).matched_seq == matched
    assert list(Trade.objects.values_list("pk", flat=True)) == [blocker.pk]
    assert not Contract.objects.exists()
    assert not Order.objects.exclude(status=OrderStatus.PENDING).exists()
    assert sorted(Hold.objects.values_list("pk", "captured", "released", "status")) == holds
    assert Posting.objects.count() == postings
    blocker.delete()
    assert instrument_match(instrument_id=instrument.pk) > 0
    log = tmp_path / "log.jsonl"
    call_command("export_order_log", instrument.code, output=str(log))
    trades = stored_trades(instrument)
    assert len(trades) > 10
    assert replay(log) == trades


def test_the_cyclic_collector_is_off_while_a_batch_runs_and_on_after_it(market):
    """config.memory.no_cyclic_gc around each batch: off for every statement a batch runs (its
    hundred thousand short-lived containers), on again once the match is done."""
    from django.db import connection

    instrument = market["instrument"]
    random_stream(market, 60, 9, match=False)
    seen = []

    def record(execute, sql, params, many, context):
        seen.append(gc.isenabled())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert instrument_match(instrument_id=instrument.pk, limit=5) > 5
    assert seen and not any(seen)
    assert gc.isenabled()
