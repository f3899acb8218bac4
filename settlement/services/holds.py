"""Holds on a buyer's funds (trading standard §4): place, capture in part or whole, release,
expire. Placing moves the amount from the buyer's prepaid funds to its holds account; capturing
moves it on to where it is owed; releasing moves it back. Available funds = prepaid funds +
credit limit − open holds, and no hold may take more than that."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Organisation
from config.errors import Conflict, ExchangeError
from config.rows import ids_draw_sql, ids_keep, ids_reserve, insert_rows, select_models
from settlement.locks import hold_lock
from settlement.models import CNY, Account, Hold, HoldStatus, JournalTransaction, Purpose
from settlement.services.credit import credit_limit_of
from settlement.services.ledger import Entry, Line, account_for, ledger_post, ledger_post_many, positive_amount
from settlement.services.retry import retry_on_serialization_failure


@dataclass(frozen=True)
class HoldResult:
    hold: Hold
    transaction: JournalTransaction


@retry_on_serialization_failure
def hold_place(
    *,
    idempotency_key: str,
    organisation: Organisation,
    amount: Decimal,
    reference: str,
    expires_at: datetime | None = None,
) -> HoldResult:
    """Set funds aside, or refuse with ``insufficient_funds``; once per idempotency key."""
    amount = positive_amount(amount)
    with transaction.atomic():
        existing = Hold.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if (existing.organisation_id, existing.amount, existing.reference) != (organisation.pk, amount, reference):
                raise Conflict("This idempotency key was used for a different hold.")
            return HoldResult(existing, JournalTransaction.objects.get(idempotency_key=f"{idempotency_key}:place"))
        cash = account_for(organisation=organisation, purpose=Purpose.BUYER_CASH)
        holds = account_for(organisation=organisation, purpose=Purpose.BUYER_HOLDS)
        try:
            with transaction.atomic():
                hold = Hold.objects.create(
                    organisation=organisation,
                    amount=amount,
                    reference=reference,
                    expires_at=expires_at,
                    idempotency_key=idempotency_key,
                )
        except IntegrityError:  # the same request, concurrently: the other one committed first
            return hold_place(
                idempotency_key=idempotency_key,
                organisation=organisation,
                amount=amount,
                reference=reference,
                expires_at=expires_at,
            )
        txn = ledger_post(
            idempotency_key=f"{idempotency_key}:place",
            kind="hold.place",
            source=f"hold:{hold.pk}",
            memo=f"Hold for {reference}",
            lines=[Line(cash, amount), Line(holds, -amount)],
            floors={cash.pk: -credit_limit_of(organisation)},
        )
        return HoldResult(hold, txn)


def _hold_step(
    *,
    idempotency_key: str,
    hold_id: int,
    organisation: Organisation | None,
    amount: Decimal | None,
    kind: str,
    lines_for,
) -> HoldResult:
    """Capture or release part of a locked hold (``amount`` None: all that is left), exactly once
    per idempotency key: a repeat returns the first result and changes nothing."""
    with transaction.atomic():
        hold = hold_lock(hold_id=hold_id, organisation=organisation)
        if hold is None:
            raise ExchangeError("No such hold.", code="not_found", status=404)
        holds = account_for(organisation=hold.organisation, purpose=Purpose.BUYER_HOLDS, currency=hold.currency)
        existing = JournalTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            taken = existing.postings.filter(account=holds).values_list("amount", flat=True).first()
            if (existing.kind, existing.source) != (kind, f"hold:{hold.pk}") or (
                amount is not None and taken != amount
            ):
                raise Conflict("This idempotency key was used for a different hold movement.")
            return HoldResult(hold, existing)
        amount = hold.remaining if amount is None else positive_amount(amount)
        if hold.status != HoldStatus.OPEN or amount <= 0 or amount > hold.remaining:
            raise ExchangeError(gettext("The hold has %(left)s left.") % {"left": hold.remaining}, code="hold_exceeded")
        txn = ledger_post(
            idempotency_key=idempotency_key,
            kind=kind,
            source=f"hold:{hold.pk}",
            memo=f"{kind} for {hold.reference}",
            lines=[Line(holds, amount), *lines_for(hold, amount)],
        )
        if kind == "hold.capture":
            hold.captured += amount
        else:
            hold.released += amount
        if hold.remaining == 0:
            hold.status, hold.closed_at = HoldStatus.CLOSED, timezone.now()
        hold.save(update_fields=["captured", "released", "status", "closed_at"])
        return HoldResult(hold, txn)


@retry_on_serialization_failure
def hold_capture(
    *,
    idempotency_key: str,
    hold_id: int,
    destinations: list[tuple[Account, Decimal]],
    organisation: Organisation | None = None,
) -> HoldResult:
    """Take part or all of a hold for what the buyer owes, split over the destination accounts
    (e.g. the seller's payable and the platform's fee revenue)."""
    if not destinations:
        raise ExchangeError("Say where the captured funds go.", code="invalid_destination")
    amount = sum((positive_amount(a) for _, a in destinations), Decimal(0))
    return _hold_step(
        idempotency_key=idempotency_key,
        hold_id=hold_id,
        organisation=organisation,
        amount=amount,
        kind="hold.capture",
        lines_for=lambda hold, _: [Line(acc, -a) for acc, a in destinations],
    )


@retry_on_serialization_failure
def hold_release(
    *, idempotency_key: str, hold_id: int, amount: Decimal | None = None, organisation: Organisation | None = None
) -> HoldResult:
    """Give back part (or, without amount, all that is left) of a hold to the buyer's funds."""

    def back_to_cash(hold, released):
        cash = account_for(organisation=hold.organisation, purpose=Purpose.BUYER_CASH, currency=hold.currency)
        return [Line(cash, -released)]

    return _hold_step(
        idempotency_key=idempotency_key,
        hold_id=hold_id,
        organisation=organisation,
        amount=amount,
        kind="hold.release",
        lines_for=back_to_cash,
    )


def holds_expire(*, now: datetime | None = None) -> list[int]:
    """Release what is left of every open hold whose time has passed (idempotent per hold)."""
    now = now or timezone.now()
    expired = list(Hold.objects.open().filter(expires_at__lte=now).values_list("pk", flat=True))
    done = []
    for hold_id in expired:
        try:
            hold_release(idempotency_key=f"hold:{hold_id}:expire", hold_id=hold_id)
        except ExchangeError as exc:  # closed meanwhile (captured or released in full)
            if exc.code != "hold_exceeded":
                raise
        else:
            done.append(hold_id)
    return done


def _funds_accounts(*, organisation: Organisation, currency: str) -> tuple[Account, Account]:
    """The organisation's prepaid and holds accounts, locked in primary-key order (one query;
    created on first use)."""
    purposes = (Purpose.BUYER_CASH.value, Purpose.BUYER_HOLDS.value)
    where = "organisation_id = %s AND currency = %s AND purpose IN (%s, %s)"
    locked = {
        a.purpose: a
        for a in select_models(Account, where, [organisation.pk, currency, *purposes], order_by="id", lock=True)
    }
    if len(locked) < len(purposes):
        for purpose in purposes:
            account_for(organisation=organisation, purpose=purpose, currency=currency)
        return _funds_accounts(organisation=organisation, currency=currency)
    return locked[Purpose.BUYER_CASH], locked[Purpose.BUYER_HOLDS]


@dataclass(frozen=True)
class Funds:
    """An organisation's prepaid and holds accounts, locked for the rest of the transaction, and
    what they allow: ``available`` = prepaid funds + the credit limit (none while an invoice is
    overdue) at the time of locking."""

    cash: Account
    held: Account
    credit_limit: Decimal

    @property
    def available(self) -> Decimal:
        return self.cash.balance + self.credit_limit


def funds_lock(*, organisation: Organisation, currency: str = CNY, holds: int = 0) -> Funds:
    """Lock the organisation's prepaid and holds accounts (primary-key order), for a caller
    deciding several holds at once (``holds_place_many``, which takes the result and locks and
    reads nothing again). The credit limit is read from the database with the lock, never taken
    from the ``organisation`` instance (which may have been loaded earlier: an API key's
    organisation is kept for a few seconds), so a lowered limit binds the next order.

    On PostgreSQL one statement. ``holds``: how many holds the caller will place with the result
    within ``config.rows.statements_joined``, if it knows; their keys and their ledger entry's are
    drawn by the same statement (a round trip less each)."""
    connection = connections[router.db_for_write(Account)]
    if connection.vendor != "postgresql":
        cash, held = _funds_accounts(organisation=organisation, currency=currency)
        return Funds(cash=cash, held=held, credit_limit=credit_limit_of(organisation))
    fields = Account._meta.concrete_fields
    columns = ", ".join(f'a."{f.column}"' for f in fields)
    hold_seq, entry_seq = ids_draw_sql(Hold), ids_draw_sql(JournalTransaction)
    draw = bool(holds and hold_seq and entry_seq)
    cash = Purpose.BUYER_CASH.value
    # on the prepaid account's row only (a CASE evaluates nextval only where it applies)
    hold_keys = f"(SELECT array_agg({hold_seq}) FROM generate_series(1, {int(holds)}))"  # noqa: S608 (a sequence)
    when = f"CASE WHEN a.purpose = '{cash}' THEN"
    draws = f", {when} {hold_keys} END, {when} {entry_seq} END" if draw else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns}, o.credit_limit{draws} FROM {Account._meta.db_table} a "  # noqa: S608
            f"JOIN {Organisation._meta.db_table} o ON o.id = a.organisation_id "
            "WHERE a.organisation_id = %s AND a.currency = %s AND a.purpose IN (%s, %s) "
            "ORDER BY a.id FOR NO KEY UPDATE OF a",
            [organisation.pk, currency, cash, Purpose.BUYER_HOLDS.value],
        )
        rows = cursor.fetchall()
    if len(rows) < 2:  # created on first use
        for purpose in (Purpose.BUYER_CASH, Purpose.BUYER_HOLDS):
            account_for(organisation=organisation, purpose=purpose, currency=currency)
        return funds_lock(organisation=organisation, currency=currency, holds=holds)
    names, n = [f.attname for f in fields], len(fields)
    locked = {a.purpose: a for a in (Account.from_db(connection.alias, names, row[:n]) for row in rows)}
    limit = rows[0][n]
    if draw:
        (drawn,) = [row[n + 1 :] for row in rows if row[n + 1] is not None]
        ids_keep(Hold, sorted(drawn[0]))
        ids_keep(JournalTransaction, [drawn[1]])
    return Funds(
        cash=locked[Purpose.BUYER_CASH],
        held=locked[Purpose.BUYER_HOLDS],
        credit_limit=credit_limit_of(organisation, limit=limit),
    )


HOLD_COLUMNS = ["id", "organisation_id", "currency", "amount", "captured", "released", "status", "reference",
                "idempotency_key", "expires_at", "created_at", "closed_at"]  # fmt: skip
NOTHING, OPEN = Decimal("0.00"), HoldStatus.OPEN.value


def holds_place_many(
    *, organisation: Organisation, items: list[tuple[str, Decimal, str]], funds: Funds | None = None
) -> list[int]:
    """Place several holds at once — (idempotency key, amount, reference) each — and return their
    ids in the same order. All or nothing: together they may not take more than the available
    funds (the ledger refuses with ``insufficient_funds``); the caller decides which fit, under
    ``funds_lock``, whose result ``funds`` is (the accounts stay locked to the commit, so their
    balances as read are still theirs; without it they are locked here).

    The holds move money together, so they post one ``hold.place`` transaction for their total
    (key: the first hold's key + ``:place``; source ``hold:<id>`` for one hold, else
    ``holds:<first id>-<last id>``: the organisation's holds with ids in that range that have no
    ``hold:<id>`` transaction of their own). Each hold is captured and released on its own."""
    if not items:
        return []
    total = sum((positive_amount(amount) for _, amount, _ in items), Decimal(0))
    with transaction.atomic(savepoint=False):
        if funds is None:
            funds = funds_lock(organisation=organisation)
        cash, held = funds.cash, funds.held
        ids = ids_reserve(Hold, len(items))
        now = timezone.now()
        insert_rows(
            Hold,
            HOLD_COLUMNS,
            [(pk, organisation.pk, CNY, amount, NOTHING, NOTHING, OPEN, reference, key, None, now, None)
             for pk, (key, amount, reference) in zip(ids, items, strict=True)],
        )  # fmt: skip
        if len(items) == 1:
            memo, source = f"Hold for {items[0][2]}", f"hold:{ids[0]}"
        else:
            memo, source = f"{len(items)} holds: {items[0][2]} … {items[-1][2]}", f"holds:{ids[0]}-{ids[-1]}"
        ledger_post_many(
            [Entry(f"{items[0][0]}:place", "hold.place", [Line(cash, total), Line(held, -total)], memo, source)],
            floors={cash.pk: -funds.credit_limit},
            locked={cash.pk: cash, held.pk: held},
        )
        return ids
