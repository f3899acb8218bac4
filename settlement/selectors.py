"""Reads of the ledger, and the invariant checker; the reference data rating needs."""

import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.db.models import Count, F, IntegerField, Q, Sum
from django.db.models.functions import Cast, Round
from django.utils import timezone

from catalog.selectors import class_meters, tou_multipliers, tou_tables
from settlement.models import (
    Account,
    Hold,
    Invoice,
    InvoiceLine,
    JournalTransaction,
    LedgerCheck,
    Posting,
    Purpose,
    Statement,
    UsageRecord,
)
from settlement.rating import Tariff, reference_meters, reference_tariffs, tariff_make


def accounts_for_org(*, organisation):
    return Account.objects.for_org(organisation).order_by("purpose", "currency")


def balances_by_org(*, organisation_ids, currency: str = "CNY") -> dict[int, dict[str, Decimal]]:
    """The cached balance of every account of each organisation, by purpose (one query for any
    number of organisations; an account never opened is absent, i.e. zero)."""
    out: dict[int, dict[str, Decimal]] = {i: {} for i in organisation_ids}
    rows = Account.objects.filter(organisation_id__in=list(out), currency=currency).values_list(
        "organisation_id", "purpose", "balance"
    )
    for organisation_id, purpose, balance in rows:
        out[organisation_id][purpose] = balance
    return out


def postings_for_org(*, organisation):
    """The statement of account: every posting of the organisation's accounts with its source."""
    return (
        Posting.objects.for_org(organisation)
        .select_related("account", "transaction")
        .order_by("-transaction__created_at", "-transaction_id", "-id")
    )


def usage_for_org(*, organisation):
    """Usage records the organisation bought or delivered."""
    return UsageRecord.objects.filter(Q(buyer=organisation) | Q(provider=organisation)).order_by("-start", "-id")


UNIT_HOURS_SHOWN = Decimal("0.000001")  # §1: unit-hours to 6 places, as on the invoice


def usage_by_reservation(*, organisation, reservation_ids) -> dict[int, Decimal]:
    """Unit-hours metered so far for each of these reservations that the organisation bought or
    delivered (usage records are in unit-seconds of the class's meter)."""
    rows = (
        usage_for_org(organisation=organisation)
        .filter(reservation_id__in=list(reservation_ids))
        .order_by()
        .values_list("reservation_id")
        .annotate(seconds=Sum("quantity"))
    )
    return {pk: (seconds / 3600).quantize(UNIT_HOURS_SHOWN, ROUND_HALF_UP) for pk, seconds in rows}


def invoices_for_org(*, organisation):
    """The organisation's issued invoices and credit notes and its drafts, newest first."""
    return Invoice.objects.filter(organisation=organisation).select_related("corrects").order_by("-period", "-id")


def statements_for_org(*, organisation):
    return Statement.objects.filter(provider=organisation).order_by("-period", "-id")


PAYOUT_KINDS = ("payout.bank", "payout.stripe.reserve", "payout.stripe.returned")


def payouts_for_org(*, organisation):
    """What left the provider's payable as payouts (a returned Stripe transfer comes back as a
    negative one), newest first."""
    return (
        Posting.objects.filter(
            account__organisation=organisation,
            account__purpose="provider_payable",
            transaction__kind__in=PAYOUT_KINDS,
        )
        .select_related("transaction")
        .order_by("-transaction__created_at", "-id")
    )


def statement_lines(*, statement: Statement):
    """What buyers were charged for the provider's capacity on the statement's month (no buyer
    is named: the provider sees the charge, not who paid it)."""
    return (
        InvoiceLine.objects.filter(provider=statement.provider, invoice__period=statement.period)
        .exclude(invoice__status="draft")
        .order_by("invoice__kind", "id")
    )


def provider_payables():
    """Every provider's payable that is not zero, largest first: what the operator pays out."""
    return (
        Account.objects.filter(purpose=Purpose.PROVIDER_PAYABLE, organisation__isnull=False)
        .exclude(balance=0)
        .select_related("organisation")
        .order_by("-balance", "organisation__slug")
    )


def holds_for_org(*, organisation):
    return Hold.objects.for_org(organisation)


def _fen_sum():
    """Sum of amounts in whole fen: exact on PostgreSQL (numeric) and SQLite (which stores
    decimals as binary floating point and would sum them inexactly)."""
    return Sum(Cast(Round(F("amount") * 100), IntegerField()))


def _yuan(fen) -> Decimal:
    return (Decimal(fen or 0) / 100).quantize(Decimal("0.01"))


def ledger_check_run(*, store: bool = True) -> dict:
    """Every unbalanced transaction, every account whose cached balance differs from its
    postings, every transaction with fewer than two postings, and the totals per currency."""
    unbalanced = [
        {"transaction": row["transaction_id"], "currency": row["currency"], "sum": str(_yuan(row["total"]))}
        for row in Posting.objects.values("transaction_id", "currency")
        .annotate(total=_fen_sum())
        .exclude(total=0)
        .order_by("transaction_id")
    ]
    thin = list(JournalTransaction.objects.annotate(n=Count("postings")).filter(n__lt=2).values_list("pk", flat=True))
    sums = {
        account_id: _yuan(total)
        for account_id, total in Posting.objects.values("account_id")
        .annotate(total=_fen_sum())
        .values_list("account_id", "total")
    }
    mismatched = []
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for account in Account.objects.select_related("organisation"):
        derived = (sums.get(account.pk) or Decimal(0)) * account.sign
        if derived != account.balance:
            mismatched.append({"account": str(account), "cached": str(account.balance), "postings": str(derived)})
        totals[account.currency][account.purpose] += derived
    grand = {
        currency: str(_yuan(Posting.objects.filter(currency=currency).aggregate(t=_fen_sum())["t"]))
        for currency in totals
    }
    report = {
        "ok": not (unbalanced or thin or mismatched) and all(Decimal(v) == 0 for v in grand.values()),
        "checked_at": timezone.now().isoformat(),
        "unbalanced_transactions": unbalanced,
        "transactions_with_fewer_than_two_postings": thin,
        "balance_mismatches": mismatched,
        "postings_sum_per_currency": grand,
        "balances_per_currency_and_purpose": {c: {p: str(v) for p, v in sorted(t.items())} for c, t in totals.items()},
    }
    if store:
        LedgerCheck.objects.create(ok=report["ok"], report=report)
    return report


def ledger_check_last() -> LedgerCheck | None:
    return LedgerCheck.objects.first()


def rating_reference(*, directory: Path | None = None) -> tuple[dict[str, Tariff], dict[str, str]]:
    """The time-of-use tariff of each region and the meter of each resource class, as rating
    takes them: from the catalog (the figures the operator keeps, which invoices are rated
    with), or, given ``directory``, from its regions.json and resource-classes.json (rating
    offline, without a database)."""
    if directory is not None:
        regions = json.loads((directory / "regions.json").read_text(encoding="utf-8"))
        classes = json.loads((directory / "resource-classes.json").read_text(encoding="utf-8"))
        return reference_tariffs(regions), reference_meters(classes)
    multipliers = tou_multipliers()
    tariffs = {
        code: tariff_make(tou_by_local_hour=kinds, multipliers=multipliers) for code, kinds in tou_tables().items()
    }
    return tariffs, class_meters()
