"""Monthly invoices and credit notes (trading standard §11).

A buyer's invoice for a month is drafted while the month runs (``invoice_draft`` rebuilds its
lines from what was bought) and issued on the 1st, local time, for the month before
(``invoices_issue_due``, a periodic task that also catches up after a missed run). Issuing takes
the series' next number under a row lock (no gaps: a rollback gives the number back), fixes VAT,
freezes the document (PostgreSQL triggers refuse later changes) and posts it to the ledger in
the same transaction:

- wholesale contracts and their trade fees were paid when they traded (the buyer's hold paid the
  notional and the fee; the seller's payable and the fee revenue were credited then), so their
  lines are marked prepaid and post nothing again;
- everything else, and the VAT on the whole subtotal, becomes receivable: the buyer's receivable
  is debited; each provider's payable is credited with its lines (commission is taken on the
  provider's statement); the VAT payable with the tax.

The receivable is then collected from the buyer's prepaid funds, as far as they reach
(``invoice_collect``; again whenever funds arrive, by the periodic task); what is left is due by
``due_at`` and overdue after it. Corrections are credit notes (``credit_note_issue``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Organisation
from accounts.services import audit_record, require_writer
from catalog.pricing import CENT, round_half_up
from config.errors import Conflict, ExchangeError, required_reason
from config.memory import no_cyclic_gc
from settlement.models import (
    BillingProfile,
    DocumentCounter,
    Hold,
    HoldStatus,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    Purpose,
    UsageRecord,
)
from settlement.services.ledger import Line, account_for, ledger_post, positive_amount
from settlement.services.volume_usage import VolumeKey, volume_rows_orm, volume_rows_sql

LOCAL = ZoneInfo("Asia/Shanghai")
VAT_RATE = Decimal("0.06")  # 信息技术服务 (§11)
PAYMENT_TERMS = timedelta(days=15)
HOURS_SHOWN = Decimal("0.000001")  # unit-hours are shown to 6 places (§1)


# ---------------------------------------------------------------------------------------------
# Periods


def period_of(instant: datetime) -> date:
    """The billing month (its first day) in which an instant falls, in local time."""
    local = instant.astimezone(LOCAL)
    return date(local.year, local.month, 1)


def period_bounds(period: date) -> tuple[datetime, datetime]:
    """The month as a half-open UTC interval [start, end)."""
    start = datetime(period.year, period.month, 1, tzinfo=LOCAL)
    following = date(period.year + period.month // 12, period.month % 12 + 1, 1)
    return start, datetime(following.year, following.month, 1, tzinfo=LOCAL)


def period_before(period: date) -> date:
    """The billing month before ``period``."""
    return date(period.year - (period.month == 1), (period.month - 2) % 12 + 1, 1)


def period_parse(raw: str) -> date:
    """``YYYY-MM`` as a period, or a refusal on the field ``period``."""
    try:
        year, month = (int(part) for part in str(raw).split("-"))
        return date(year, month, 1)
    except ValueError:
        raise ExchangeError.on_field("period", "invalid", gettext("A month as YYYY-MM, e.g. 2026-12.")) from None


def tax_rate_for(organisation: Organisation) -> Decimal:
    profile = BillingProfile.objects.filter(organisation=organisation).first()
    return Decimal("0.00") if profile and profile.tax_exempt else VAT_RATE


# ---------------------------------------------------------------------------------------------
# Lines


def _wholesale_lines(organisation: Organisation, start: datetime, end: datetime) -> list[InvoiceLine]:
    """The contracts bought whose window starts in the month (§6.1: charged whole in that month),
    each with the buyer's trade fee; both already paid at the trade."""
    from marketplace.models import Trade  # marketplace builds on settlement, not the reverse

    trades = (
        Trade.objects.filter(buyer=organisation, instrument__window_start__gte=start, instrument__window_start__lt=end)
        .select_related("instrument", "contract")
        .order_by("instrument__window_start", "instrument_id", "number")
    )
    lines = []
    for t in trades:
        i = t.instrument
        product = f"{i.resource_class_id}.{i.region_id}.{i.tier}.wholesale.time"
        lines.append(
            InvoiceLine(
                kind=InvoiceLineKind.WHOLESALE,
                product=product,
                description=f"{i.code} · {t.qty} units × {i.window_hours} h at {t.price}",
                provider_id=t.seller_id,
                contract=t.contract,
                quantity=Decimal(t.qty * i.window_hours),
                minutes=i.window_hours * 60,
                unit_price=t.price,
                amount=round_half_up(t.notional, CENT),
                prepaid=True,
            )
        )
        if t.buyer_fee:
            lines.append(
                InvoiceLine(
                    kind=InvoiceLineKind.TRADE_FEE,
                    product=product,
                    description=f"Trade fee, {i.code} trade #{t.number}",
                    contract=t.contract,
                    amount=t.buyer_fee,
                    prepaid=True,
                )
            )
    return lines


def _retail_time_lines(organisation: Organisation, start: datetime, end: datetime) -> list[InvoiceLine]:
    """Per-time reservations starting in the month, each charged whole (§6.1): billable minutes
    to where it ends (its scheduled end, or when it was cancelled after starting)."""
    from marketplace.selectors import reservation_charges_starting

    lines = []
    for c in reservation_charges_starting(buyer=organisation, start=start, end=end):
        if not c.billable_minutes:
            continue
        lines.append(
            InvoiceLine(
                kind=InvoiceLineKind.RETAIL_TIME,
                product=f"{c.resource_class}.{c.region}.{c.tier}.retail.time",
                description=(
                    f"Reservation #{c.reservation_id} · {c.units} units × {c.billable_minutes} min at {c.price}"
                ),
                provider_id=c.provider_id,
                reservation_id=c.reservation_id,
                quantity=(Decimal(c.units * c.billable_minutes) / 60).quantize(HOURS_SHOWN, ROUND_HALF_UP),
                minutes=c.billable_minutes,
                unit_price=c.price,
                amount=c.amount,
            )
        )
    return lines


def _volume_usage(organisation: Organisation, period: date, *, received_until: datetime | None = None):
    """The buyer's per-volume usage overlapping the month, rated: {key: [VolumeLine]}. Read set-based
    on PostgreSQL, through the ORM elsewhere (``settlement.services.volume_usage``): the same sums,
    so the same lines."""
    from settlement.rating import PER_VOLUME, Product, VolumeUsage
    from settlement.rating import Period as RatingPeriod
    from settlement.selectors import rating_reference

    start, end = period_bounds(period)
    rating_period = RatingPeriod(period.year, period.month)
    tariffs = None
    if connection.vendor == "postgresql":
        tariffs, _ = rating_reference()
        keyed_rows = volume_rows_sql(buyer_id=organisation.pk, start=start, end=end, tariffs=tariffs,
                                     received_until=received_until)  # fmt: skip
    else:
        keyed_rows = volume_rows_orm(buyer_id=organisation.pk, start=start, end=end, received_until=received_until)
    usages: dict[VolumeKey, VolumeUsage] = {}
    with no_cyclic_gc():  # a large buyer's month is a million rows
        for key, rows in keyed_rows:
            if key not in usages:
                if tariffs is None:
                    tariffs, _ = rating_reference()
                usages[key] = VolumeUsage(tariff=tariffs[key.region], period=rating_period)
            usages[key].add_many(rows)
        return {key: usage.lines(product=Product(key.product, PER_VOLUME, key.price)) for key, usage in usages.items()}


def _volume_terms(tou: str, discount: Decimal, multipliers: dict[str, Decimal]) -> str:
    """How a per-volume line is priced, in words a buyer reads on the invoice: the unit price
    column times the time-of-use multiplier (§7, ``multipliers``: read once per invoice), less the
    volume discount (§6.2)."""
    multiplier = multipliers.get(tou)
    rate = f"{tou} hours (unit price × {multiplier:.2f})" if multiplier is not None else f"{tou} hours"
    return f"{rate}, " + (f"volume discount {discount * 100:.0f} %" if discount else "no volume discount")


def _volume_line(key: VolumeKey, line, multipliers: dict[str, Decimal], **extra) -> InvoiceLine:
    return InvoiceLine(
        kind=extra.pop("kind", InvoiceLineKind.RETAIL_VOLUME),
        product=key.product,
        description=extra.pop("description", f"Metered use, {_volume_terms(line.tou, line.discount, multipliers)}"),
        provider_id=key.provider_id,
        quantity=line.hours,
        unit_price=key.price,
        tou=line.tou,
        discount=line.discount,
        amount=line.amount,
        **extra,
    )


def _retail_volume_lines(organisation: Organisation, period: date) -> list[InvoiceLine]:
    """Metered usage of per-volume reservations in the month (§6.2, §7), by time-of-use kind and
    tier."""
    from catalog.selectors import tou_multipliers

    rated = _volume_usage(organisation, period)
    multipliers = tou_multipliers()
    return [_volume_line(key, line, multipliers) for key in sorted(rated, key=_key_order) for line in rated[key]]


def _key_order(key: VolumeKey):
    return (key.product, key.price, key.provider_id)


def _adjustment_lines(organisation: Organisation, period: date) -> list[InvoiceLine]:
    """Usage that arrived after an earlier month's invoice was issued (§11): that month re-rated
    with everything received so far, less what its invoice and earlier adjustments billed, as
    dated lines (``service_date``: the month corrected) on this month's invoice."""
    from catalog.selectors import tou_multipliers

    lines, multipliers = [], None
    earlier = Invoice.objects.filter(
        organisation=organisation, kind=InvoiceKind.INVOICE, period__lt=period, usage_cutoff__isnull=False
    ).exclude(status=InvoiceStatus.DRAFT)
    for invoice in earlier.order_by("period"):
        start, end = period_bounds(invoice.period)
        late = UsageRecord.objects.filter(
            buyer=organisation,
            reservation__billing="per_volume",
            start__lt=end,
            end__gt=start,
            received_at__gt=invoice.usage_cutoff,
        )
        if not late.exists():
            continue
        multipliers = multipliers if multipliers is not None else tou_multipliers()
        billed: dict[tuple, tuple[Decimal, Decimal]] = defaultdict(lambda: (Decimal(0), Decimal(0)))
        prior = InvoiceLine.objects.filter(
            Q(invoice=invoice, kind=InvoiceLineKind.RETAIL_VOLUME)
            | Q(kind=InvoiceLineKind.ADJUSTMENT, service_date=invoice.period, invoice__organisation=organisation)
        ).exclude(invoice__status=InvoiceStatus.DRAFT)
        for old in prior:
            k = (old.product, old.unit_price, old.provider_id, old.tou, old.discount)
            hours, amount = billed[k]
            billed[k] = (hours + old.quantity, amount + old.amount)
        now_rated = _volume_usage(organisation, invoice.period)
        for key in sorted(now_rated, key=_key_order):
            for line in now_rated[key]:
                k = (key.product, key.price, key.provider_id, line.tou, line.discount)
                hours, amount = billed.pop(k, (Decimal(0), Decimal(0)))
                if line.amount != amount or line.hours != hours:
                    lines.append(_adjustment(key, line.tou, line.discount, line.hours - hours, line.amount - amount,
                                             invoice, multipliers))  # fmt: skip
        for (product, price, provider, tou, discount), (hours, amount) in billed.items():
            if amount or hours:  # billed before, nothing now: cannot happen as records only arrive
                key = VolumeKey(*product.split(".")[:3], price, provider)
                lines.append(_adjustment(key, tou, discount, -hours, -amount, invoice, multipliers))
    return lines


def _adjustment(
    key: VolumeKey,
    tou: str,
    discount: Decimal,
    hours: Decimal,
    amount: Decimal,
    invoice,
    multipliers: dict[str, Decimal],
) -> InvoiceLine:
    return InvoiceLine(
        kind=InvoiceLineKind.ADJUSTMENT,
        product=key.product,
        description=(
            f"Late usage of {invoice.period:%Y-%m} ({invoice.number}), {_volume_terms(tou, discount, multipliers)}"
        ),
        provider_id=key.provider_id,
        service_date=invoice.period,
        quantity=hours,
        unit_price=key.price,
        tou=tou,
        discount=discount,
        amount=amount,
    )


def period_charges(organisation: Organisation, period: date) -> list[InvoiceLine]:
    """What the month's own deliveries cost, as they stand now (late usage included)."""
    start, end = period_bounds(period)
    return (
        _wholesale_lines(organisation, start, end)
        + _retail_time_lines(organisation, start, end)
        + _retail_volume_lines(organisation, period)
    )


def _charges(organisation: Organisation, period: date) -> list[InvoiceLine]:
    """A month's invoice lines: its own charges and the adjustments of earlier months."""
    return period_charges(organisation, period) + _adjustment_lines(organisation, period)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax: Decimal
    prepaid: Decimal

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.tax


def totals_of(lines, tax_rate: Decimal) -> Totals:
    """Subtotal, VAT on it (half-up to the fen, §11) and the part paid at trade time."""
    subtotal = sum((line.amount for line in lines), Decimal("0.00"))
    prepaid = sum((line.amount for line in lines if line.prepaid), Decimal("0.00"))
    return Totals(subtotal, round_half_up(subtotal * tax_rate, CENT), prepaid)


# ---------------------------------------------------------------------------------------------
# Drafts


def _draft_locked(organisation: Organisation, period: date) -> Invoice:
    invoice = (
        Invoice.objects.select_for_update()
        .filter(organisation=organisation, period=period, kind=InvoiceKind.INVOICE)
        .first()
    )
    if invoice is None:
        invoice, _ = Invoice.objects.get_or_create(
            organisation=organisation,
            period=period,
            kind=InvoiceKind.INVOICE,
            defaults={"tax_rate": tax_rate_for(organisation)},
        )
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    return invoice


def _redraft(invoice: Invoice) -> list[InvoiceLine]:
    lines = _charges(invoice.organisation, invoice.period)
    invoice.lines.all().delete()
    for line in lines:
        line.invoice = invoice
    InvoiceLine.objects.bulk_create(lines)
    invoice.tax_rate = tax_rate_for(invoice.organisation)
    t = totals_of(lines, invoice.tax_rate)
    invoice.subtotal, invoice.tax, invoice.total, invoice.prepaid = t.subtotal, t.tax, t.total, t.prepaid
    invoice.save(update_fields=["tax_rate", "subtotal", "tax", "total", "prepaid", "updated_at"])
    return lines


@transaction.atomic
def invoice_draft(*, organisation: Organisation, period: date) -> Invoice:
    """The month's invoice with its lines rebuilt from what was bought; an issued one as it is."""
    invoice = _draft_locked(organisation, period)
    if invoice.status == InvoiceStatus.DRAFT:
        _redraft(invoice)
    return invoice


def _buyers_with_charges(period: date) -> set[int]:
    from marketplace.models import Trade
    from marketplace.selectors import reservations_starting

    start, end = period_bounds(period)
    ids = set(
        Trade.objects.filter(instrument__window_start__gte=start, instrument__window_start__lt=end).values_list(
            "buyer_id", flat=True
        )
    )
    ids |= set(reservations_starting(start=start, end=end, billing="per_time").values_list("buyer_id", flat=True))
    ids |= set(
        UsageRecord.objects.filter(reservation__billing="per_volume", start__lt=end, end__gt=start)
        .values_list("buyer_id", flat=True)
        .distinct()
    )
    # late usage of a month already invoiced goes on this month's invoice
    for cutoff_org in (
        Invoice.objects.filter(kind=InvoiceKind.INVOICE, period__lt=period, usage_cutoff__isnull=False)
        .exclude(status=InvoiceStatus.DRAFT)
        .values_list("organisation_id", "period", "usage_cutoff")
    ):
        org_id, invoiced, cutoff = cutoff_org
        first, last = period_bounds(invoiced)
        if UsageRecord.objects.filter(
            buyer_id=org_id, reservation__billing="per_volume", start__lt=last, end__gt=first, received_at__gt=cutoff
        ).exists():
            ids.add(org_id)
    ids |= set(
        Invoice.objects.filter(period=period, kind=InvoiceKind.INVOICE, status=InvoiceStatus.DRAFT).values_list(
            "organisation_id", flat=True
        )
    )
    return ids


def invoices_draft_all(*, now: datetime | None = None) -> int:
    """Redraft this month's invoice of every buyer with charges (a periodic task)."""
    period = period_of(now or timezone.now())
    ids = sorted(_buyers_with_charges(period))
    for org in Organisation.objects.filter(pk__in=ids):
        invoice_draft(organisation=org, period=period)
    return len(ids)


# ---------------------------------------------------------------------------------------------
# Issue


def _next_number(series: str) -> str:
    counter, _ = DocumentCounter.objects.get_or_create(series=series)
    counter = DocumentCounter.objects.select_for_update().get(pk=series)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"{series}-{counter.last:06d}"


def _buyer_details(organisation: Organisation) -> dict:
    profile = BillingProfile.objects.filter(organisation=organisation).first()
    return {
        "name": (profile.legal_name if profile and profile.legal_name else organisation.name),
        "slug": organisation.slug,
        "tax_id": profile.tax_id if profile else "",
        "address": profile.address if profile else "",
        "email": profile.email if profile else "",
        "tax_exempt": bool(profile and profile.tax_exempt),
    }


def _post_issue(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    """Receivable against each provider's payable and the VAT payable, for what was not paid at
    the trade (§11)."""
    org = invoice.organisation
    credits: dict[tuple[str, int | None], Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.prepaid:
            continue
        if line.provider_id:
            credits[(Purpose.PROVIDER_PAYABLE, line.provider_id)] += line.amount
        else:
            credits[(Purpose.FEE_REVENUE, None)] += line.amount
    if invoice.tax:
        credits[(Purpose.VAT_PAYABLE, None)] += invoice.tax
    receivable = sum(credits.values(), Decimal("0.00"))
    if not receivable:
        return
    entry = [Line(account_for(purpose=Purpose.BUYER_RECEIVABLE, organisation=org), receivable)]
    for (purpose, owner), amount in sorted(credits.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if amount:
            owner_org = Organisation(pk=owner) if owner else None
            entry.append(Line(account_for(purpose=purpose, organisation=owner_org), -amount))
    ledger_post(idempotency_key=f"invoice:{invoice.pk}:issue", kind="invoice.issue", lines=entry,
                memo=f"Invoice {invoice.number}", source=f"invoice:{invoice.pk}")  # fmt: skip


def invoice_issue(*, invoice_id: int, now: datetime | None = None) -> Invoice | None:
    """Issue a draft invoice of a month that has ended: final lines, number, VAT, ledger; then
    collect what prepaid funds cover. A month without charges gets no invoice (the draft goes)."""
    now = now or timezone.now()
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().select_related("organisation").get(pk=invoice_id)
        if invoice.status != InvoiceStatus.DRAFT:
            return invoice
        if period_bounds(invoice.period)[1] > now:
            raise Conflict(gettext("The month has not ended yet."), code="period_open")
        lines = _redraft(invoice)
        if not lines:
            invoice.delete()
            return None
        invoice.number = _next_number(f"INV-{invoice.period:%Y}")
        invoice.status = InvoiceStatus.ISSUED
        invoice.issued_at, invoice.due_at, invoice.usage_cutoff = now, now + PAYMENT_TERMS, now
        invoice.buyer_details = _buyer_details(invoice.organisation)
        if invoice.due <= 0:
            invoice.status, invoice.paid_at = InvoiceStatus.PAID, now
        invoice.save()
        _post_issue(invoice, lines)
        _release_reservation_holds(invoice, now)
    invoice_collect(invoice_id=invoice.pk, now=now)
    invoice.refresh_from_db()
    return invoice


def _release_reservation_holds(invoice: Invoice, now: datetime) -> None:
    """A reservation's hold set its funds aside until it was billed: once it has ended and its
    month is invoiced, what the hold has left goes back to prepaid funds, which pay the invoice.
    A reservation still running keeps its hold for the usage still to come."""
    from marketplace.models import Reservation, ReservationStatus
    from settlement.services.holds import hold_release

    start, end = period_bounds(invoice.period)
    ended = Reservation.objects.filter(
        buyer=invoice.organisation,
        status__in=[ReservationStatus.COMPLETED, ReservationStatus.CANCELLED],
        start__lt=end,
        hold_id__isnull=False,
    )
    open_holds = Hold.objects.filter(pk__in=ended.values("hold_id"), status=HoldStatus.OPEN)
    for hold_id in open_holds.order_by("pk").values_list("pk", flat=True):
        hold_release(idempotency_key=f"invoice:{invoice.pk}:release:{hold_id}", hold_id=hold_id)


def invoices_issue_due(*, now: datetime | None = None) -> list[str]:
    """Issue every draft of a month that has ended (a periodic task: the 1st, and after a missed
    run); drafts are first made for buyers who have charges but no draft yet. Numbers issued."""
    now = now or timezone.now()
    current = period_of(now)
    last = period_before(current)
    invoiced = Invoice.objects.filter(period=last, kind=InvoiceKind.INVOICE).values_list("organisation_id", flat=True)
    for org in Organisation.objects.filter(pk__in=_buyers_with_charges(last) - set(invoiced)):
        invoice_draft(organisation=org, period=last)
    drafts = Invoice.objects.filter(kind=InvoiceKind.INVOICE, status=InvoiceStatus.DRAFT, period__lt=current)
    issued = []
    for invoice_id in drafts.order_by("period", "organisation_id").values_list("pk", flat=True):
        invoice = invoice_issue(invoice_id=invoice_id, now=now)
        if invoice is not None:
            issued.append(invoice.number)
    return issued


# ---------------------------------------------------------------------------------------------
# Payment


def invoice_collect(*, invoice_id: int, now: datetime | None = None) -> Decimal:
    """Pay what is due from the buyer's prepaid funds, as far as they are positive; the amount
    paid now. Each payment is one ledger entry keyed by the amount paid before it (exactly once)."""
    now = now or timezone.now()
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.kind != InvoiceKind.INVOICE or invoice.status != InvoiceStatus.ISSUED or invoice.due <= 0:
            return Decimal("0.00")
        org = Organisation(pk=invoice.organisation_id)
        cash = account_for(purpose=Purpose.BUYER_CASH, organisation=org)
        receivable = account_for(purpose=Purpose.BUYER_RECEIVABLE, organisation=org)
        amount = min(invoice.due, cash.balance)
        if amount <= 0:
            return Decimal("0.00")
        ledger_post(
            idempotency_key=f"invoice:{invoice.pk}:pay:{invoice.paid}",
            kind="invoice.pay",
            lines=[Line(cash, amount), Line(receivable, -amount)],
            memo=f"Invoice {invoice.number} paid from prepaid funds",
            source=f"invoice:{invoice.pk}",
            floors={cash.pk: Decimal("0.00")},
        )
        invoice.paid += amount
        if invoice.due == 0:
            invoice.status, invoice.paid_at = InvoiceStatus.PAID, now
        invoice.save(update_fields=["paid", "status", "paid_at", "updated_at"])
        return amount


def invoice_pay(*, actor, organisation: Organisation, invoice_id: int) -> Decimal:
    """A member of the buyer pays its invoice from prepaid funds now, rather than at the next
    hourly collection; the amount paid (0.00 when the funds cover none of it)."""
    require_writer(user=actor, organisation=organisation)
    if not Invoice.objects.filter(pk=invoice_id, organisation=organisation).exists():
        raise ExchangeError("No such invoice.", code="not_found", status=404)
    return invoice_collect(invoice_id=invoice_id)


def invoices_collect(*, now: datetime | None = None) -> int:
    """Collect every unpaid invoice from prepaid funds, oldest first (a periodic task; funds may
    have arrived by bank transfer or card since). The number of invoices paid from."""
    ids = Invoice.objects.filter(kind=InvoiceKind.INVOICE, status=InvoiceStatus.ISSUED).order_by("issued_at", "pk")
    return sum(1 for pk in ids.values_list("pk", flat=True) if invoice_collect(invoice_id=pk, now=now))


# ---------------------------------------------------------------------------------------------
# Credit notes


def _credited(invoice: Invoice) -> Decimal:
    return Invoice.objects.filter(corrects=invoice).aggregate(s=Sum("subtotal"))["s"] or Decimal("0.00")


def credit_note_issue(
    *, actor, invoice_id: int, amount: Decimal, reason: str, kind: str = InvoiceLineKind.CORRECTION,
    provider_id: int | None = None, now: datetime | None = None, idempotency_key: str | None = None,
) -> Invoice:  # fmt: skip
    """Credit a buyer ``amount`` (before VAT) of an issued invoice, with the VAT on it, into its
    prepaid funds. Charged back to ``provider_id``'s payable when given (an SLA credit, or a
    correction of the provider's line), otherwise borne by the platform (adjustments). At most
    what the invoice charged, less earlier credit notes."""
    reason = required_reason(reason)
    amount = positive_amount(amount)
    now = now or timezone.now()
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().select_related("organisation").get(pk=invoice_id)
        if invoice.kind != InvoiceKind.INVOICE or invoice.status == InvoiceStatus.DRAFT:
            raise Conflict(gettext("Only an issued invoice can be credited."), code="not_issued")
        if idempotency_key:
            existing = Invoice.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                if (existing.corrects_id, existing.subtotal, existing.reason) != (invoice.pk, amount, reason):
                    raise Conflict("This Idempotency-Key was used for another credit note.", code="conflict")
                return existing
        left = invoice.subtotal - _credited(invoice)
        if amount > left:
            raise ExchangeError.on_field(
                "amount", "exceeds_invoice", gettext("At most %(left)s is left to credit.") % {"left": left}
            )
        tax = round_half_up(amount * invoice.tax_rate, CENT)
        note = Invoice.objects.create(
            organisation=invoice.organisation,
            kind=InvoiceKind.CREDIT_NOTE,
            period=invoice.period,
            corrects=invoice,
            reason=reason,
            tax_rate=invoice.tax_rate,
            idempotency_key=idempotency_key,
        )
        InvoiceLine.objects.create(
            invoice=note, kind=kind, description=reason[:300], provider_id=provider_id, amount=amount
        )
        note.subtotal, note.tax, note.total = amount, tax, amount + tax
        note.number = _next_number(f"CN-{now.astimezone(LOCAL):%Y}")
        note.status, note.issued_at = InvoiceStatus.PAID, now
        note.paid, note.paid_at, note.buyer_details = amount + tax, now, _buyer_details(invoice.organisation)
        note.save()
        org = invoice.organisation
        bearer = (
            account_for(purpose=Purpose.PROVIDER_PAYABLE, organisation=Organisation(pk=provider_id))
            if provider_id
            else account_for(purpose=Purpose.ADJUSTMENTS)
        )
        lines = [Line(bearer, amount), Line(account_for(purpose=Purpose.BUYER_CASH, organisation=org), -(amount + tax))]
        if tax:
            lines.append(Line(account_for(purpose=Purpose.VAT_PAYABLE), tax))
        ledger_post(idempotency_key=f"credit_note:{note.pk}", kind="credit_note.issue", lines=lines,
                    memo=f"Credit note {note.number} for {invoice.number}", source=f"invoice:{invoice.pk}",
                    actor=actor)  # fmt: skip
        if actor is not None:
            audit_record(actor=actor, action="credit_note.issue", organisation=org, target=note.number,
                         detail={"invoice": invoice.number, "amount": str(amount), "reason": reason})  # fmt: skip
    return note
