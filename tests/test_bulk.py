"""config.bulk: rows written as tuples and updated by arrays, on any database."""

import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from config.bulk import rows_update
from config.copies import copies_unawaited, idle_run
from config.rows import joined_send, rows_insert, statements_joined
from settlement.models import Hold, Posting, Purpose
from settlement.services import account_for
from settlement.services.ledger import Entry, Line, ledger_post_many

pytestmark = pytest.mark.django_db

AWKWARD = ["plain", "", 'with "quotes", commas {and} braces', "back\\slash", "NULL", "null", "空格 and spaces"]


def test_rows_go_in_and_change_as_given_whatever_the_text(make_org):
    _, org = make_org()
    fields = ["organisation_id", "amount", "reference", "idempotency_key", "created_at"]
    at = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)
    rows = [(org.pk, Decimal(f"{i + 1}.25"), text, f"k{i}", at) for i, text in enumerate(AWKWARD * 2)]
    keys = rows_insert(Hold, fields, rows, keys=True)
    stored = list(Hold.objects.filter(pk__any=keys).order_by("pk").values_list("pk", "amount", "reference"))
    assert stored == [(k, r[1], r[2]) for k, r in zip(keys, rows, strict=True)]

    changed = [(k, text[::-1], Decimal("0.25"), None if i % 2 else at) for i, (k, text) in enumerate(
        zip(keys, AWKWARD * 2, strict=True))]  # fmt: skip
    assert rows_update(Hold, ["reference", "captured", "closed_at"], changed) == len(keys)
    stored = list(
        Hold.objects.filter(pk__in=keys).order_by("pk").values_list("pk", "reference", "captured", "closed_at")
    )
    assert stored == changed
    assert Hold.objects.filter(reference__any=["", "LLUN"]).count() == 4
    assert Hold.objects.filter(pk__any=[]).count() == 0


def test_times_go_in_as_the_same_instants_whatever_their_zone(make_org):
    """Enough rows to go by COPY, where times are sent as text, each distinct value formatted
    once: repeated and distinct instants, three offsets, microseconds, and none."""
    _, org = make_org()
    zones = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
    base = datetime(2026, 11, 27, 23, 59, 59, 999999, tzinfo=UTC)
    times = [(base + timedelta(microseconds=i % 3)).astimezone(zones[i % 3]) for i in range(12)]
    fields = ["organisation_id", "amount", "reference", "idempotency_key", "created_at", "closed_at"]
    rows = [(org.pk, Decimal(1), "t", f"t{i}", at, None if i % 4 else times[-1 - i]) for i, at in enumerate(times)]
    keys = rows_insert(Hold, fields, rows, keys=True)
    stored = list(Hold.objects.filter(pk__any=keys).order_by("pk").values_list("created_at", "closed_at"))
    assert stored == [(r[4], r[5]) for r in rows]
    assert stored[1][0] - stored[0][0] == timedelta(microseconds=1)


@pytest.mark.postgres
def test_a_copy_goes_after_the_writes_held_back_before_it(make_org, fund):
    """Within statements_joined a one-row insert is held back and a COPY is not: the ledger entry
    (one row, held) must reach the database before its eight postings (a COPY), which refer to it
    (their reference check runs at the end of their statement)."""
    _, org = make_org()
    fund(org, Decimal("100"))
    cash = account_for(organisation=org, purpose=Purpose.BUYER_CASH)
    held = account_for(organisation=org, purpose=Purpose.BUYER_HOLDS)
    lines = [Line(cash, Decimal(1)), Line(held, Decimal(-1))] * 4
    with transaction.atomic(), statements_joined(Hold):
        (txn,) = ledger_post_many([Entry("test:copy-after-held", "hold.place", lines, "eight postings")])
    assert Posting.objects.filter(transaction_id=txn).count() == 8


def _holds(org, n):
    at = datetime(2026, 11, 27, tzinfo=UTC)
    rows = [(org.pk, Decimal(10), "t", f"j{i}", at) for i in range(n)]
    return rows_insert(
        Hold, ["organisation_id", "amount", "reference", "idempotency_key", "created_at"], rows, keys=True
    )


def _logged(calls: list, name: str):
    """One step of work: logs ``name``."""
    calls.append(name)
    yield


def test_writes_held_back_are_sent_together_while_meanwhile_runs(make_org):
    """The writes are applied, ``meanwhile`` runs once between sending them and their results,
    and nothing stays held back (on SQLite nothing was held: the writes ran as they came)."""
    _, org = make_org()
    keys = _holds(org, 3)
    calls = []
    with transaction.atomic(), statements_joined(Hold):
        rows_update(Hold, ["captured"], [(k, Decimal(i)) for i, k in enumerate(keys)])
        rows_update(Hold, ["reference"], [(keys[0], "first")])
        joined_send(Hold, _logged(calls, "meanwhile"))
        assert list(Hold.objects.filter(pk__any=keys).order_by("pk").values_list("captured", flat=True)) == [0, 1, 2]
    assert calls == ["meanwhile"]
    assert Hold.objects.get(pk=keys[0]).reference == "first"


@pytest.mark.postgres
def test_a_write_sent_together_that_fails_fails_as_djangos_after_meanwhile_and_changes_nothing(make_org):
    _, org = make_org()
    keys = _holds(org, 2)
    calls = []
    with pytest.raises(IntegrityError), transaction.atomic(), statements_joined(Hold):
        rows_update(Hold, ["captured"], [(keys[0], Decimal(4))])
        rows_update(Hold, ["captured"], [(keys[1], Decimal(11))])  # more than its amount: hold_not_overdrawn
        joined_send(Hold, _logged(calls, "meanwhile"))
    assert calls == ["meanwhile"]
    assert list(Hold.objects.filter(pk__any=keys).values_list("captured", flat=True)) == [0, 0]


def test_when_meanwhile_fails_the_writes_sent_with_it_are_rolled_back_and_the_connection_goes_on(make_org):
    _, org = make_org()
    keys = _holds(org, 2)

    def fails():
        yield
        raise ValueError("the engine failed")

    with pytest.raises(ValueError, match="the engine failed"), transaction.atomic(), statements_joined(Hold):
        rows_update(Hold, ["captured"], [(keys[0], Decimal(4))])
        joined_send(Hold, fails())
    assert list(Hold.objects.filter(pk__any=keys).values_list("captured", flat=True)) == [0, 0]
    with transaction.atomic(), statements_joined(Hold):
        rows_update(Hold, ["captured"], [(keys[1], Decimal(5))])
        joined_send(Hold)
    assert Hold.objects.get(pk=keys[1]).captured == 5


def _hold_rows(org, n, *, tag, amount=Decimal(10)):
    at = datetime(2026, 11, 27, tzinfo=UTC)
    return [(org.pk, amount, "t", f"{tag}{i}", at) for i in range(n)]


HOLD_FIELDS = ["organisation_id", "amount", "reference", "idempotency_key", "created_at"]


def test_copies_not_awaited_are_in_place_for_the_next_statement_and_at_the_end(make_org):
    """Each COPY's result is read before the next statement (a read, another COPY, an update by
    arrays) and at the block's end: whatever follows sees every row."""
    _, org = make_org()
    with transaction.atomic(), copies_unawaited(Hold):
        first = rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 20, tag="a"), keys=True)
        assert Hold.objects.filter(pk__any=first).count() == 20  # a read through the ORM
        second = rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 20, tag="b"), keys=True)
        rows_update(Hold, ["captured"], [(pk, Decimal(1)) for pk in second])
        third = rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 20, tag="c"), keys=True)
    assert Hold.objects.filter(pk__any=first + second + third).count() == 60
    assert Hold.objects.filter(pk__any=second, captured=1).count() == 20


@pytest.mark.postgres
@pytest.mark.parametrize("then", ["a read", "a copy", "the end"])
def test_a_copy_not_awaited_that_fails_fails_as_djangos_at_the_next_statement_and_changes_nothing(make_org, then):
    _, org = make_org()
    Hold.objects.create(organisation=org, amount=Decimal(1), reference="t", idempotency_key="dup3")
    before = Hold.objects.count()
    with pytest.raises(IntegrityError, match="idempotency_key"), transaction.atomic(), copies_unawaited(Hold):
        rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 10, tag="dup"))  # dup3 is taken: refused by its unique key
        if then == "a read":
            Hold.objects.count()
        elif then == "a copy":
            rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 10, tag="other"))
    assert Hold.objects.count() == before
    with transaction.atomic(), copies_unawaited(Hold):  # the connection goes on
        rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 10, tag="after"))
    assert Hold.objects.count() == before + 10


def test_when_python_fails_while_a_copy_is_not_awaited_its_error_is_raised_and_nothing_stays(make_org):
    _, org = make_org()
    before = Hold.objects.count()
    with pytest.raises(ValueError, match="the settlement failed"), transaction.atomic(), copies_unawaited(Hold):
        rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 10, tag="x"))
        raise ValueError("the settlement failed")
    assert Hold.objects.count() == before
    rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 10, tag="y"))
    assert Hold.objects.count() == before + 10


def _steps(log: list, n: int, *, ms: float = 0):
    """``n`` steps of work, each ``ms`` of this process's time, logged as they are taken."""
    for i in range(n):
        until = time.perf_counter() + ms / 1000
        while time.perf_counter() < until:
            pass
        log.append(i)
        yield


@pytest.mark.postgres
def test_idle_steps_are_taken_while_a_copy_is_worked_on_and_the_rest_when_asked(make_org):
    """``copies_unawaited(idle=…)``: the next statement, instead of waiting for the COPY's result,
    takes steps of the caller's own work while PostgreSQL still works on it (a COPY of 20,000 rows
    keeps it busy for tens of milliseconds, not the two seconds of all the steps); ``idle_run``
    takes what is left."""
    _, org = make_org()
    taken = []
    steps = _steps(taken, 2000, ms=1)
    with transaction.atomic(), copies_unawaited(Hold, idle=steps):
        rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 20_000, tag="idle"))
        assert taken == []  # nothing before there is something to wait for
        assert Hold.objects.filter(reference="t").count() == 20_000  # the read waits, taking steps
        during = len(taken)
    assert 0 < during < 2000
    idle_run(steps)
    assert taken == list(range(2000))


@pytest.mark.postgres
def test_no_idle_step_is_taken_once_the_block_failed(make_org):
    """The drain of a COPY still at work after the block failed waits for it, taking none of the
    caller's steps (the failure is being raised)."""
    _, org = make_org()
    Hold.objects.create(organisation=org, amount=Decimal(1), reference="t", idempotency_key="dup19999")
    taken = []
    steps = _steps(taken, 10, ms=1)
    with pytest.raises(ValueError, match="failed"), transaction.atomic(), copies_unawaited(Hold, idle=steps):
        rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 20_000, tag="dup"))  # refused at its last row: still at work
        raise ValueError("failed")
    assert taken == []


@pytest.mark.postgres
def test_an_update_not_awaited_that_fails_fails_as_djangos_at_the_next_statement_and_changes_nothing(make_org):
    """``rows_update`` within ``copies_unawaited`` returns before its result: a refusal (here a
    hold captured beyond its amount) is raised by the next statement, and the block changes nothing."""
    _, org = make_org()
    hold = Hold.objects.create(organisation=org, amount=Decimal(5), reference="t", idempotency_key="h1")
    went_on = []
    with pytest.raises(IntegrityError, match="hold_not_overdrawn"), transaction.atomic(), copies_unawaited(Hold):
        assert rows_update(Hold, ["captured"], [(hold.pk, Decimal(6))]) == 1  # sent, not yet refused
        went_on.append(True)
        rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 10, tag="later"))
    assert went_on
    hold.refresh_from_db()
    assert hold.captured == 0 and Hold.objects.count() == 1


@pytest.mark.postgres
def test_an_idle_step_that_fails_fails_the_block_and_the_connection_goes_on(make_org):
    """A step of the caller's work raises while a COPY is still at work: the error is the block's,
    the COPY's result is drained for the rollback, and nothing stays."""
    _, org = make_org()
    before = Hold.objects.count()

    def fails():
        yield
        raise ValueError("the next batch failed")

    with (
        pytest.raises(ValueError, match="the next batch failed"),
        transaction.atomic(),
        copies_unawaited(Hold, idle=fails()),
    ):
        rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 20_000, tag="s"))
        Hold.objects.count()  # waits for the COPY, taking steps
    assert Hold.objects.count() == before
    with transaction.atomic(), copies_unawaited(Hold):
        rows_insert(Hold, HOLD_FIELDS, _hold_rows(org, 10, tag="t"))
    assert Hold.objects.count() == before + 10
