"""The ledger's one write path: ``ledger_post``. Balanced, idempotent, locked, immutable."""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.selectors import user_is_operator
from accounts.services import audit_record
from config.bulk import rows_update
from config.errors import Conflict, ExchangeError, NotAllowed, required_reason
from config.rows import rows_insert
from settlement.locks import accounts_lock
from settlement.models import CNY, NEVER_NEGATIVE, Account, JournalTransaction, Posting, Purpose

CENT = Decimal("0.01")


class Line(NamedTuple):
    account: Account
    amount: Decimal  # signed: debit positive, credit negative
    source: str = ""  # what this posting is for, when the entry covers several things (a batch)


def positive_amount(amount: Decimal, field: str = "amount") -> Decimal:
    """A positive, finite amount in whole fen, or a refusal on ``field`` (``invalid_amount``)."""
    valid = isinstance(amount, Decimal) and amount.is_finite() and amount > 0
    if not valid or amount != amount.quantize(CENT):
        raise ExchangeError.on_field(
            field, "invalid_amount", gettext("A positive amount with at most 2 decimals (fen).")
        )
    return amount


def account_for(*, purpose: str, organisation=None, currency: str = CNY) -> Account:
    """The account of an organisation (or the platform's) for a purpose, created on first use."""
    account, _ = Account.objects.get_or_create(organisation=organisation, purpose=purpose, currency=currency)
    return account


def _content_hash(*, kind: str, memo: str, source: str, reverses: int | None, lines: list[Line]) -> str:
    canonical = {
        "kind": kind,
        "memo": memo,
        "source": source,
        "reverses": reverses,
        # tuples, not lists: the same JSON and the same order, sorted in three quarters of the time
        # (a matching batch's entry has tens of thousands of lines)
        "lines": sorted(
            (line.account.id, str(line.amount), line.source) if line.source else (line.account.id, str(line.amount))
            for line in lines
        ),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _validate(lines: list[Line]) -> None:
    if len(lines) < 2:
        raise ExchangeError("A transaction has two postings or more.", code="unbalanced")
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for account, amount, _ in lines:
        if not isinstance(amount, Decimal) or not amount:
            raise ExchangeError("Posting amounts are non-zero decimals.", code="invalid_amount")
        if amount != amount.quantize(CENT):
            raise ExchangeError("Amounts have at most 2 decimals (fen).", code="invalid_amount")
        totals[account.currency] += amount
    if any(total != 0 for total in totals.values()):
        raise ExchangeError("The postings do not balance.", code="unbalanced")


def _check_floors(locked: dict[int, Account], change: dict[int, Decimal], floors: dict[int, Decimal]) -> None:
    """Refuse (``insufficient_funds``) a change that takes an account below its floor: the given
    one, or 0 for never-negative purposes."""
    for account_id, delta in change.items():
        account = locked[account_id]
        floor = floors.get(account_id, Decimal(0) if account.purpose in NEVER_NEGATIVE else None)
        if floor is not None and delta < 0 and account.balance + delta < floor:
            raise ExchangeError(
                gettext("Not enough in %(account)s: %(balance)s available.")
                % {"account": account.get_purpose_display().lower(), "balance": account.balance},
                code="insufficient_funds",
            )


def ledger_post(
    *,
    idempotency_key: str,
    kind: str,
    lines: list[Line],
    memo: str = "",
    source: str = "",
    actor=None,
    reverses: JournalTransaction | None = None,
    floors: dict[int, Decimal] | None = None,
) -> JournalTransaction:
    """Post one balanced transaction, exactly once per idempotency key.

    A retry with the same key and the same content returns the original (``posted_now`` False on
    the returned object, True when this call posted it); the same key with other content is
    refused (``conflict``). Accounts are locked in primary-key order and their cached
    balances change in the same transaction. ``floors`` gives, per account id, the lowest
    balance (normal sense) the posting may leave; never-negative purposes have floor 0.
    Must run inside the caller's transaction (services open it), or opens its own.
    """
    _validate(lines)
    digest = _content_hash(kind=kind, memo=memo, source=source, reverses=reverses.pk if reverses else None, lines=lines)
    with transaction.atomic():
        existing = JournalTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _same_or_conflict(existing, digest)
        locked = accounts_lock(line.account.pk for line in lines)
        change: dict[int, Decimal] = defaultdict(Decimal)
        for line in lines:
            change[line.account.pk] += line.amount * locked[line.account.pk].sign
        _check_floors(locked, change, floors or {})
        try:
            with transaction.atomic():
                txn = JournalTransaction.objects.create(
                    idempotency_key=idempotency_key,
                    content_hash=digest,
                    kind=kind,
                    memo=memo[:300],
                    source=source,
                    reverses=reverses,
                    created_by=actor if getattr(actor, "pk", None) else None,
                )
        except IntegrityError:
            # A concurrent retry with the same key committed first.
            existing = JournalTransaction.objects.get(idempotency_key=idempotency_key)
            return _same_or_conflict(existing, digest)
        Posting.objects.bulk_create(
            Posting(
                transaction=txn,
                account=line.account,
                amount=line.amount,
                currency=line.account.currency,
                source=line.source,
            )  # fmt: skip
            for line in lines
        )
        # A locked read-modify-write computed in Python with exact decimals (SQLite would add in
        # binary floating point); the rows are locked since accounts_lock above.
        for account_id, delta in change.items():
            Account.objects.filter(pk=account_id).update(balance=locked[account_id].balance + delta)
    txn.posted_now = True
    return txn


def _same_or_conflict(existing: JournalTransaction, digest: str) -> JournalTransaction:
    if existing.content_hash != digest:
        raise Conflict("This idempotency key was used for a different transaction.")
    existing.posted_now = False
    return existing


# What an operator may reverse: movements with the world outside the ledger, and corrections.
# Hold steps and Stripe payouts are undone by their own flows (release, refusal), never by a
# reversal, which would leave their records (the hold, the transfer) telling another story.
REVERSIBLE_KINDS = frozenset({"topup.bank", "topup.card", "adjustment", "payout.bank"})


def transaction_reverse(*, idempotency_key: str, transaction_id: int, actor, reason: str) -> JournalTransaction:
    """Post the exact opposite of a transaction, pointing at it. A transaction is reversed once."""
    if not user_is_operator(user=actor, acting=True):
        raise NotAllowed(gettext("Only operators reverse transactions."), code="operator_required")
    reason = required_reason(reason)
    with transaction.atomic():
        original = JournalTransaction.objects.select_for_update().filter(pk=transaction_id).first()
        if original is None:
            raise ExchangeError(gettext("No such transaction."), code="not_found", status=404)
        if original.reverses_id is not None:
            raise Conflict(gettext("A reversal is not reversed; post a new correction."), code="is_reversal")
        if original.kind not in REVERSIBLE_KINDS:
            raise Conflict(
                gettext("A %(kind)s transaction is undone by its own flow, not reversed.") % {"kind": original.kind},
                code="not_reversible",
            )
        already = JournalTransaction.objects.filter(reverses=original).first()
        if already is not None and already.idempotency_key != idempotency_key:
            raise Conflict(gettext("This transaction was already reversed."), code="already_reversed")
        postings = list(original.postings.select_related("account__organisation"))
        lines = [Line(p.account, -p.amount) for p in postings]
        # A reversal keeps every rule a posting keeps: never-negative accounts stay at or above
        # zero, and prepaid funds above minus the credit limit (a top-up already spent cannot be
        # reversed; the operator posts an adjustment with a reason instead).
        floors = {
            p.account.pk: -p.account.organisation.credit_limit
            for p in postings
            if p.account.purpose == Purpose.BUYER_CASH
        }
        reversal = ledger_post(
            idempotency_key=idempotency_key,
            kind="reversal",
            lines=lines,
            memo=f"Reversal of #{original.pk}: {reason}",
            source=f"txn:{original.pk}",
            actor=actor,
            reverses=original,
            floors=floors,
        )
        if reversal.posted_now:
            owner = next((p.account.organisation for p in postings if p.account.organisation_id), None)
            audit_record(
                actor=actor,
                action="funds.reversal",
                organisation=owner,
                target=f"txn:{original.pk}",
                reason=reason,
                detail={"reversal": reversal.pk},
            )
        return reversal


def balance_of(account: Account) -> Decimal:
    """The account's balance computed from its postings (normal sense), summed exactly."""
    return sum(Posting.objects.filter(account=account).values_list("amount", flat=True), Decimal(0)) * account.sign


@dataclass(frozen=True)
class Entry:
    """One journal transaction of a batch (see ``ledger_post_many``)."""

    idempotency_key: str
    kind: str
    lines: list[Line]
    memo: str = ""
    source: str = ""


def ledger_post_many(
    entries: list[Entry], *, floors: dict[int, Decimal] | None = None, locked: dict[int, Account] | None = None
) -> list[int]:
    """Post many balanced transactions at once, for a caller that is itself exactly-once (the
    matching worker commits a batch with the sequence number it reached): one lock of every account
    in primary-key order, one insert of the transactions, one of the postings, one update of the
    balances. A key already posted is refused by its unique constraint and the whole batch rolls
    back. Floors are checked on each account's balance after the batch. ``locked``: the entries'
    accounts, already locked by the caller in this transaction and read under that lock (they are
    not locked and read again; their ``balance`` is brought up to date). Returns the transactions'
    ids, in order."""
    if not entries:
        return []
    for entry in entries:
        _validate(entry.lines)
    with transaction.atomic(savepoint=False):
        change: dict[int, Decimal] = defaultdict(Decimal)
        for entry in entries:
            for account, amount, _ in entry.lines:
                change[account.id] += amount
        if locked is None or not change.keys() <= locked.keys():
            locked = accounts_lock(change)
        change = {pk: delta * locked[pk].sign for pk, delta in change.items()}
        _check_floors(locked, change, floors or {})
        now = timezone.now()
        ids = rows_insert(
            JournalTransaction,
            ["idempotency_key", "content_hash", "kind", "memo", "source", "created_at"],
            [
                (
                    e.idempotency_key,
                    _content_hash(kind=e.kind, memo=e.memo, source=e.source, reverses=None, lines=e.lines),
                    e.kind,
                    e.memo[:300],
                    e.source,
                    now,
                )
                for e in entries
            ],
            keys=True,
        )
        rows_insert(
            Posting,
            ["transaction_id", "account_id", "amount", "currency", "source"],
            [
                (txn, account.id, amount, account.currency, source)
                for txn, entry in zip(ids, entries, strict=True)
                for account, amount, source in entry.lines
            ],
        )
        rows_update(
            Account, ["balance"], [(pk, locked[pk].balance + delta) for pk, delta in sorted(change.items()) if delta]
        )
        for pk, delta in change.items():
            locked[pk].balance += delta
    return ids


def ledger_check(*, actor) -> dict:
    """A person (an operator, by page, API or command) runs the ledger's invariant checker now:
    the report is stored as the last result and the run audited with its outcome. The periodic
    task runs the selector itself, as the system, without an audit event every hour."""
    from settlement.selectors import ledger_check_run

    report = ledger_check_run()
    audit_record(
        actor=actor,
        action="ledger.check",
        target="ok" if report["ok"] else "NOT consistent",
        detail={
            "ok": report["ok"],
            "checked_at": report["checked_at"],
            "problems": len(report["unbalanced_transactions"])
            + len(report["transactions_with_fewer_than_two_postings"])
            + len(report["balance_mismatches"]),
        },
    )
    return report
