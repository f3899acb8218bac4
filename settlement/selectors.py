"""Reads of the ledger, and the invariant checker; the reference data rating needs."""

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

from django.db.models import BigIntegerField, Count, DateTimeField, ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, Round, TruncHour
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
from settlement.rating import Tariff, reference_meters, reference_tariffs, round_half_up, tariff_make


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
    decimals as binary floating point and would sum them inexactly). 64-bit: a 32-bit integer
    holds no more than ¥21,474,836.47, less than one matching batch's netted posting can be."""
    return Sum(Cast(Round(F("amount") * 100), BigIntegerField()))


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


# --- my usage (the usage page and the dashboard) ------------------------------------------------

TOU_KINDS = ("peak", "flat", "valley")  # §7's period kinds, in the order pages show them
_ONE_US = timedelta(microseconds=1)


class _ByKind:
    hours: dict[str, Decimal]

    @property
    def by_kind(self) -> list[Decimal]:
        """The hours in the order of ``TOU_KINDS`` (peak, flat, valley)."""
        return [self.hours[k] for k in TOU_KINDS]


@dataclass(frozen=True)
class UsageDay(_ByKind):
    """One local day of a month: unit-hours metered in each time-of-use period kind."""

    day: date
    hours: dict[str, Decimal]
    total: Decimal


@dataclass(frozen=True)
class UsageProduct(_ByKind):
    """Unit-hours metered on one product (class, region, how it is billed) in each period kind."""

    resource_class: str
    region: str
    billing: str  # "per_volume", "per_time" or "wholesale"
    hours: dict[str, Decimal]
    total: Decimal


@dataclass(frozen=True)
class UsageMonth:
    period: date
    days: list[UsageDay]  # every local day of the month, in order
    products: list[UsageProduct]
    hours: dict[str, Decimal]  # the month, by period kind
    total: Decimal

    @property
    def by_kind(self) -> list[Decimal]:
        """The hours in the order of ``TOU_KINDS`` (peak, flat, valley)."""
        return [self.hours[k] for k in TOU_KINDS]


def _unit_hours(unit_seconds: Fraction) -> Decimal:
    """Exact unit-seconds as unit-hours shown to 6 places, half-up (§1, as on the invoice)."""
    return round_half_up(Fraction(unit_seconds) / 3600, 6)


def usage_month(*, organisation, period: date) -> UsageMonth:
    """What the organisation's deliveries metered in a month (local time), by local day and
    time-of-use period kind: every usage record it bought (per-volume and per-time reservations,
    wholesale contracts), cut at the month's bounds and at the edges of the region's time-of-use
    blocks by the rating engine (``VolumeUsage``), exactly as the invoice cuts per-volume use.

    Records lying inside one hour — the usual case — are summed per hour in SQL (an exact numeric
    sum; an hour never straddles two period kinds or two local days), so a large buyer's month
    costs one grouped query; the others come one by one for the engine to cut."""
    from settlement.rating import Period as RatingPeriod
    from settlement.rating import VolumeUsage, instant_us
    from settlement.rating.inputs import DAY_US, HOUR_US
    from settlement.services.invoices import period_bounds

    start, end = period_bounds(period)
    records = UsageRecord.objects.filter(buyer=organisation, start__lt=end, end__gt=start).annotate(
        region=F("pool__region_id"),
        billing=Coalesce("reservation__billing", Value("wholesale")),
        resource_class=Coalesce("reservation__listing__resource_class_id", "contract__instrument__resource_class_id"),
        hour=TruncHour("start", tzinfo=UTC),
        last_hour=TruncHour(ExpressionWrapper(F("end") - _ONE_US, output_field=DateTimeField()), tzinfo=UTC),
    )
    keyed = ("resource_class", "region", "billing")
    in_one_hour = (
        records.filter(hour=F("last_hour")).order_by().values_list(*keyed, "hour").annotate(quantity=Sum("quantity"))
    )
    crossing = records.exclude(hour=F("last_hour")).order_by().values_list(*keyed, "start", "end", "quantity")

    tariffs, _ = rating_reference()
    rating_period = RatingPeriod(period.year, period.month)
    usages: dict[tuple[str, str, str], VolumeUsage] = {}

    def usage_of(key):
        if key not in usages:
            usages[key] = VolumeUsage(tariff=tariffs[key[1]], period=rating_period)
        return usages[key]

    for cls, region, billing, hour, quantity in in_one_hour:
        first = instant_us(hour)
        usage_of((cls, region, billing)).add(first, first + HOUR_US, quantity)
    for cls, region, billing, first, last, quantity in crossing.iterator(chunk_size=5_000):
        usage_of((cls, region, billing)).add(instant_us(first), instant_us(last), quantity)

    month_start_us = instant_us(start)
    day_count = (end - start).days
    by_day: list[dict[str, Fraction]] = [defaultdict(Fraction) for _ in range(day_count)]
    products = []
    for key in sorted(usages):
        usage = usages[key]
        per_kind: dict[str, Fraction] = defaultdict(Fraction)
        for block_start, unit_seconds in usage.blocks():
            kind = usage.tariff.kind_at(block_start)
            per_kind[kind] += unit_seconds
            by_day[(block_start - month_start_us) // DAY_US][kind] += unit_seconds
        products.append(
            UsageProduct(*key, hours={k: _unit_hours(per_kind[k]) for k in TOU_KINDS},
                         total=_unit_hours(sum(per_kind.values(), Fraction(0))))
        )  # fmt: skip
    days = [
        UsageDay(
            day=period + timedelta(days=n),
            hours={k: _unit_hours(sums[k]) for k in TOU_KINDS},
            total=_unit_hours(sum(sums.values(), Fraction(0))),
        )
        for n, sums in enumerate(by_day)
    ]
    month = defaultdict(Fraction)
    for sums in by_day:
        for kind, value in sums.items():
            month[kind] += value
    return UsageMonth(
        period=period,
        days=days,
        products=products,
        hours={k: _unit_hours(month[k]) for k in TOU_KINDS},
        total=_unit_hours(sum(month.values(), Fraction(0))),
    )


@dataclass(frozen=True)
class ChargesSoFar:
    """A month's charges as they stand: what its invoice would say if drafted now (adjustments of
    earlier months aside). Per-volume use by period kind, through the rating engine as the invoice
    rates it; per-time reservations and wholesale contracts (with their trade fees) starting in it."""

    volume: dict[str, Decimal]
    per_time: Decimal
    wholesale: Decimal
    subtotal: Decimal
    tax: Decimal
    total: Decimal

    @property
    def volume_by_kind(self) -> list[Decimal]:
        return [self.volume.get(k, Decimal("0.00")) for k in TOU_KINDS]


def charges_so_far(*, organisation, period: date) -> ChargesSoFar:
    from settlement.models import InvoiceLineKind
    from settlement.services.invoices import period_charges, tax_rate_for, totals_of

    lines = period_charges(organisation, period)
    volume = dict.fromkeys(TOU_KINDS, Decimal("0.00"))
    per_time = wholesale = Decimal("0.00")
    for line in lines:
        if line.kind == InvoiceLineKind.RETAIL_VOLUME:
            volume[line.tou] = volume.get(line.tou, Decimal("0.00")) + line.amount
        elif line.kind == InvoiceLineKind.RETAIL_TIME:
            per_time += line.amount
        else:
            wholesale += line.amount
    totals = totals_of(lines, tax_rate_for(organisation))
    return ChargesSoFar(volume, per_time, wholesale, totals.subtotal, totals.tax, totals.total)
