"""The double-entry ledger: balanced, idempotent, immutable, reversible, checked."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import AuditEvent
from config.errors import Conflict, ExchangeError, NotAllowed
from settlement.models import Account, JournalTransaction, Posting, Purpose
from settlement.selectors import ledger_check_run
from settlement.services import account_for, ledger_post, transaction_reverse
from settlement.services.ledger import Line, _content_hash, balance_of

pytestmark = pytest.mark.django_db
D = Decimal


def test_a_balanced_transaction_moves_balances_in_their_normal_sense(buyer):
    _, org = buyer
    bank = account_for(purpose=Purpose.BANK_CLEARING)
    cash = account_for(organisation=org, purpose=Purpose.BUYER_CASH)
    txn = ledger_post(idempotency_key="t1", kind="test", lines=[Line(bank, D("100.00")), Line(cash, D("-100.00"))])
    bank.refresh_from_db()
    cash.refresh_from_db()
    assert (bank.balance, cash.balance) == (D("100.00"), D("100.00"))  # an asset and a liability both grew
    assert [p.amount for p in txn.postings.all()] == [D("100.00"), D("-100.00")]
    assert balance_of(cash) == D("100.00")
    assert ledger_check_run()["ok"]


def test_the_check_sums_amounts_beyond_a_32_bit_count_of_fen(buyer):
    """¥21,474,836.47 is 2³¹ − 1 fen: a matching batch's netted posting can be more."""
    _, org = buyer
    bank = account_for(purpose=Purpose.BANK_CLEARING)
    cash = account_for(organisation=org, purpose=Purpose.BUYER_CASH)
    ledger_post(idempotency_key="big", kind="test", lines=[Line(bank, D("50000000.01")), Line(cash, D("-50000000.01"))])
    report = ledger_check_run()
    assert report["ok"], report
    assert report["balances_per_currency_and_purpose"]["CNY"][Purpose.BUYER_CASH] == "50000000.01"


@pytest.mark.parametrize(
    ("amounts", "code"),
    [
        ([D("1.00"), D("-0.99")], "unbalanced"),
        ([D("1.00")], "unbalanced"),
        ([D("0.001"), D("-0.001")], "invalid_amount"),
        ([D("0"), D("0")], "invalid_amount"),
    ],
)
def test_what_does_not_balance_is_refused_and_changes_nothing(buyer, amounts, code):
    _, org = buyer
    accounts = [account_for(purpose=Purpose.BANK_CLEARING), account_for(organisation=org, purpose=Purpose.BUYER_CASH)]
    with pytest.raises(ExchangeError) as err:
        ledger_post(
            idempotency_key="bad", kind="test", lines=[Line(a, x) for a, x in zip(accounts, amounts, strict=False)]
        )
    assert err.value.code == code
    assert JournalTransaction.objects.count() == 0 and Posting.objects.count() == 0


def test_retries_return_the_original_and_other_content_conflicts(buyer):
    _, org = buyer
    bank, cash = account_for(purpose=Purpose.BANK_CLEARING), account_for(organisation=org, purpose=Purpose.BUYER_CASH)
    first = ledger_post(idempotency_key="k", kind="test", lines=[Line(bank, D("5.00")), Line(cash, D("-5.00"))])
    again = ledger_post(idempotency_key="k", kind="test", lines=[Line(bank, D("5.00")), Line(cash, D("-5.00"))])
    assert again.pk == first.pk
    with pytest.raises(Conflict):
        ledger_post(idempotency_key="k", kind="test", lines=[Line(bank, D("6.00")), Line(cash, D("-6.00"))])
    cash.refresh_from_db()
    assert cash.balance == D("5.00") and JournalTransaction.objects.count() == 1


def test_never_negative_accounts_stay_non_negative(seller):
    _, org = seller
    payable = account_for(organisation=org, purpose=Purpose.PROVIDER_PAYABLE)
    bank = account_for(purpose=Purpose.BANK_CLEARING)
    with pytest.raises(ExchangeError) as err:
        ledger_post(idempotency_key="p", kind="payout", lines=[Line(payable, D("1.00")), Line(bank, D("-1.00"))])
    assert err.value.code == "insufficient_funds"


def test_a_reversal_undoes_exactly_once(buyer, operator, fund):
    _, org = buyer
    txn = fund(org, "7.50")
    cash = account_for(organisation=org, purpose=Purpose.BUYER_CASH)
    with pytest.raises(ExchangeError):
        transaction_reverse(idempotency_key="r", transaction_id=txn.pk, actor=operator, reason="")
    rev = transaction_reverse(idempotency_key="r", transaction_id=txn.pk, actor=operator, reason="wrong buyer")
    assert rev.reverses_id == txn.pk and sorted(p.amount for p in rev.postings.all()) == [D("-7.50"), D("7.50")]
    assert transaction_reverse(idempotency_key="r", transaction_id=txn.pk, actor=operator, reason="wrong buyer") == rev
    with pytest.raises(Conflict) as err:
        transaction_reverse(idempotency_key="r2", transaction_id=txn.pk, actor=operator, reason="again")
    assert err.value.code == "already_reversed"
    with pytest.raises(Conflict) as err:
        transaction_reverse(idempotency_key="r3", transaction_id=rev.pk, actor=operator, reason="undo the undo")
    assert err.value.code == "is_reversal"
    cash.refresh_from_db()
    assert cash.balance == 0 and ledger_check_run()["ok"]
    assert AuditEvent.objects.filter(action="funds.reversal", actor=operator, reason="wrong buyer").count() == 1


def test_only_operators_reverse_and_only_what_has_no_flow_of_its_own(buyer, operator, fund):
    from settlement.services import hold_place

    user, org = buyer
    topup = fund(org, "50.00")
    with pytest.raises(NotAllowed):
        transaction_reverse(idempotency_key="r", transaction_id=topup.pk, actor=user, reason="mine")
    placed = hold_place(idempotency_key="h", organisation=org, amount=D("20.00"), reference="order:1")
    with pytest.raises(Conflict) as err:
        transaction_reverse(idempotency_key="r", transaction_id=placed.transaction.pk, actor=operator, reason="x")
    assert err.value.code == "not_reversible"  # a hold is released, not reversed


def test_small_amounts_stay_exact(buyer, fund):
    """Captures of 0.10 and 0.20 of a 0.30 hold close it exactly (SQLite adds in binary floating
    point; the ledger computes balances in exact decimals)."""
    from settlement.services import hold_capture, hold_place

    _, org = buyer
    fund(org, "0.30")
    hold = hold_place(idempotency_key="h", organisation=org, amount=D("0.30"), reference="order:1").hold
    fees = account_for(purpose=Purpose.FEE_REVENUE)
    hold_capture(idempotency_key="c1", hold_id=hold.pk, destinations=[(fees, D("0.10"))])
    hold_capture(idempotency_key="c2", hold_id=hold.pk, destinations=[(fees, D("0.20"))])
    assert account_for(organisation=org, purpose=Purpose.BUYER_HOLDS).balance == D("0.00")
    assert account_for(purpose=Purpose.FEE_REVENUE).balance == D("0.30")
    assert ledger_check_run()["ok"]


@pytest.mark.ledger_tampered
def test_the_checker_finds_a_cached_balance_that_lies(buyer):
    _, org = buyer
    bank, cash = account_for(purpose=Purpose.BANK_CLEARING), account_for(organisation=org, purpose=Purpose.BUYER_CASH)
    ledger_post(idempotency_key="t", kind="test", lines=[Line(bank, D("3.00")), Line(cash, D("-3.00"))])
    Account.objects.filter(pk=cash.pk).update(balance=D("30.00"))
    report = ledger_check_run()
    assert not report["ok"]
    assert report["balance_mismatches"] == [{"account": str(cash), "cached": "30.00", "postings": "3.00"}]


@pytest.mark.postgres
def test_posted_rows_cannot_be_changed_or_deleted_in_the_database(buyer):
    _, org = buyer
    bank, cash = account_for(purpose=Purpose.BANK_CLEARING), account_for(organisation=org, purpose=Purpose.BUYER_CASH)
    txn = ledger_post(idempotency_key="t", kind="test", lines=[Line(bank, D("1.00")), Line(cash, D("-1.00"))])
    for statement in (
        "UPDATE settlement_posting SET amount = 2 WHERE transaction_id = %s",
        "DELETE FROM settlement_posting WHERE transaction_id = %s",
        "UPDATE settlement_journaltransaction SET memo = 'x' WHERE id = %s",
        "DELETE FROM settlement_journaltransaction WHERE id = %s",
    ):
        with pytest.raises(IntegrityError, match="immutable"), transaction.atomic(), connection.cursor() as c:
            c.execute(statement, [txn.pk])
    assert Posting.objects.filter(transaction=txn).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_unbalanced_transaction_cannot_commit_in_the_database(buyer):
    """Even code that bypasses ledger_post cannot commit postings that do not sum to zero."""
    _, org = buyer
    bank, cash = account_for(purpose=Purpose.BANK_CLEARING), account_for(organisation=org, purpose=Purpose.BUYER_CASH)
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        txn = JournalTransaction.objects.create(idempotency_key="raw", content_hash="x", kind="raw")
        Posting.objects.create(transaction=txn, account=bank, amount=D("1.00"), currency="CNY")
        Posting.objects.create(transaction=txn, account=cash, amount=D("-0.50"), currency="CNY")
    with pytest.raises(IntegrityError, match="two or more"), transaction.atomic():
        txn = JournalTransaction.objects.create(idempotency_key="raw1", content_hash="x", kind="raw")
        Posting.objects.create(transaction=txn, account=bank, amount=D("1.00"), currency="CNY")
    assert JournalTransaction.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_checks_every_statement_of_postings_and_what_it_leaves_unbalanced_at_commit(buyer):
    """Postings written in one statement are checked by the statement (per transaction and
    currency); a transaction a statement leaves unbalanced is checked again at COMMIT, so postings
    written one at a time may balance later, and none added to a posted transaction may unbalance it."""
    _, org = buyer
    bank, cash = account_for(purpose=Purpose.BANK_CLEARING), account_for(organisation=org, purpose=Purpose.BUYER_CASH)
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        good = JournalTransaction.objects.create(idempotency_key="good", content_hash="x", kind="raw")
        bad = JournalTransaction.objects.create(idempotency_key="bad", content_hash="x", kind="raw")
        Posting.objects.bulk_create([
            Posting(transaction=good, account=bank, amount=D("1.00"), currency="CNY"),
            Posting(transaction=good, account=cash, amount=D("-1.00"), currency="CNY"),
            Posting(transaction=bad, account=bank, amount=D("2.00"), currency="CNY"),
            Posting(transaction=bad, account=cash, amount=D("-1.00"), currency="CNY"),
        ])  # fmt: skip
    with transaction.atomic():  # one at a time: unbalanced after the first, balanced at commit
        txn = JournalTransaction.objects.create(idempotency_key="split", content_hash="x", kind="raw")
        Posting.objects.create(transaction=txn, account=bank, amount=D("1.00"), currency="CNY")
        Posting.objects.create(transaction=txn, account=cash, amount=D("-1.00"), currency="CNY")
        Account.objects.filter(pk__in=[bank.pk, cash.pk]).update(balance=D("1.00"))  # the cache, as ledger_post does
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        Posting.objects.create(transaction=txn, account=bank, amount=D("5.00"), currency="CNY")
    assert list(JournalTransaction.objects.values_list("idempotency_key", flat=True)) == ["split"]
    assert Posting.objects.filter(transaction=txn).count() == 2
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM settlement_ledger_pending")
        assert c.fetchone()[0] == 0  # the queue of transactions to check is emptied as they are checked


@pytest.mark.postgres
def test_a_posting_must_refer_to_a_transaction_and_an_account_that_exist_and_stay(buyer):
    """The references are checked per statement (not by foreign keys); transactions are immutable
    and accounts permanent, so what a posting refers to cannot go away."""
    _, org = buyer
    bank, cash = account_for(purpose=Purpose.BANK_CLEARING), account_for(organisation=org, purpose=Purpose.BUYER_CASH)
    txn = ledger_post(idempotency_key="t", kind="test", lines=[Line(bank, D("1.00")), Line(cash, D("-1.00"))])
    for txn_id, account_ids, missing in ((txn.pk + 1000, (bank.pk, cash.pk), "transaction"),
                                          (txn.pk, (bank.pk, 999_999), "account")):  # fmt: skip
        with pytest.raises(IntegrityError, match=f"refers to {missing}"), transaction.atomic():
            Posting.objects.bulk_create(
                Posting(transaction_id=txn_id, account_id=a, amount=amount, currency="CNY")
                for a, amount in zip(account_ids, (D("2.00"), D("-2.00")), strict=True)
            )
    for statement in (
        "DELETE FROM settlement_account WHERE id = %s",
        "UPDATE settlement_account SET id = -id WHERE id = %s",
    ):
        with pytest.raises(IntegrityError, match="never deleted"), transaction.atomic(), connection.cursor() as c:
            c.execute(statement, [cash.pk])


def test_the_content_hash_of_a_known_entry_stays_what_it_was():
    """Stored digests are compared when a key is posted again: the canonical form (its key order,
    separators, ASCII escapes, lines sorted whatever order they come in) must never change."""
    lines = [Line(Account(pk=12), D("-1.50"), "trade:3:17"), Line(Account(pk=3), D("1.00")),
             Line(Account(pk=12), D("-10.00"), "trade:3:2"), Line(Account(pk=3), D("10.50"), "trade:3:2")]  # fmt: skip
    digest = _content_hash(kind="trade.settle", memo='成交 "fees"', source="match:3:2-9", reverses=None, lines=lines)
    assert digest == "d71dc616a2f2dafd34a71f83b8f04544ac22221c1ae373323d3ccba7a57f655b"
    assert _content_hash(kind="trade.settle", memo='成交 "fees"', source="match:3:2-9", reverses=None,
                         lines=lines[::-1]) == digest  # fmt: skip
    reversal = _content_hash(kind="reversal", memo="r", source="", reverses=41, lines=lines[:2])
    assert reversal == "e16bb5cc790ccec6953d738154e19b32d858beccd689cd3366e0d1e2227f1ac8"
