"""Reconciliation of a billing period (the operator's): for every buyer and provider, what the
charges say against the invoices, the invoices against the ledger, payments against the ledger,
and statements against the ledger and the payouts. Each difference comes with its likely cause
and how to resolve it; a period closes only when every difference is zero or explained (with a
mandatory reason, audited).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from accounts.services import audit_record
from config.errors import Conflict, ExchangeError, required_reason
from settlement.models import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    Posting,
    Purpose,
    ReconciliationClose,
    ReconciliationNote,
    Statement,
)
from settlement.selectors import payouts_for_org
from settlement.services.invoices import _buyers_with_charges, period_bounds, period_charges, totals_of
from settlement.services.rating_cases import invoice_rerate
from settlement.services.statements import statement_figures
from settlement.services.statements import sum_of as _sum_amounts

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Check:
    organisation: Organisation
    role: str  # buyer or provider
    check: str  # what is compared (a code)
    document: str  # the invoice, credit note or statement number, or ""
    expected: Decimal
    actual: Decimal
    cause: str = ""  # lazily translated: shown in the reader's language
    resolution: str = ""
    invoice_id: int | None = None  # where the rating cases behind it can be downloaded

    @property
    def difference(self) -> Decimal:
        return self.actual - self.expected

    @property
    def key(self) -> str:
        return f"{self.organisation.pk}:{self.check}:{self.document}"


def _posted(*, source: str, kind: str, purpose: str, organisation: Organisation | None) -> Decimal:
    rows = Posting.objects.filter(
        transaction__source=source, transaction__kind=kind, account__purpose=purpose, account__organisation=organisation
    )
    return rows.aggregate(s=Sum("amount"))["s"] or ZERO


def _buyer_checks(org: Organisation, period: date) -> list[Check]:
    out = []
    invoice = Invoice.objects.filter(organisation=org, period=period, kind=InvoiceKind.INVOICE).first()
    expected = totals_of(period_charges(org, period), Decimal(0)).subtotal
    if invoice is None or invoice.status == InvoiceStatus.DRAFT:
        return [
            Check(
                org,
                "buyer",
                "invoice_issued",
                "",
                expected,
                ZERO,
                _("The month's invoice is not issued yet."),
                _("Wait for the 1st (the hourly task issues it), or check the task runs."),
            )  # fmt: skip
        ]
    number = invoice.number
    # the month's charges are billed by its invoice (less the earlier months' adjustments it
    # carries) and by the dated adjustments for it on later invoices, drafts included
    own_adjustments = _sum_amounts(invoice.lines.filter(kind=InvoiceLineKind.ADJUSTMENT))
    later = _sum_amounts(
        InvoiceLine.objects.filter(
            kind=InvoiceLineKind.ADJUSTMENT, service_date=period, invoice__organisation=org
        ).exclude(invoice=invoice)
    )
    out.append(
        Check(org, "buyer", "charges_vs_invoice", number, expected, invoice.subtotal - own_adjustments + later,
              _("Charges changed after the invoice was issued and are not (yet) on a later invoice as an adjustment."),
              _("The hourly task redrafts this month's invoice with the adjustment; an overcharge needs a "
                "credit note."))
    )  # fmt: skip
    rerated = invoice_rerate(invoice)
    if rerated:
        out.append(
            Check(org, "buyer", "rerate_vs_invoice", number, sum((r.rated for r in rerated), ZERO),
                  sum((r.case.billed for r in rerated), ZERO),
                  _("The invoice's lines differ from re-rating the records behind them (a tariff changed since it "
                  "was issued, or a defect)."),
                  _("Download the rating cases to find the product; a credit note for an overcharge, an adjustment "
                  "for an undercharge."), invoice_id=invoice.pk)
        )  # fmt: skip
    if invoice.prepaid:
        out.append(
            Check(org, "buyer", "prepaid_vs_ledger", number, invoice.prepaid, _paid_at_trades(invoice),
                  _("What the invoice says was paid at the trades differs from what the trades took from the "
                  "buyer's funds."), _("Investigate the trades; a credit note or an adjustment with a reason."))
        )  # fmt: skip
    source = f"invoice:{invoice.pk}"
    receivable = _posted(source=source, kind="invoice.issue", purpose=Purpose.BUYER_RECEIVABLE, organisation=org)
    out.append(
        Check(org, "buyer", "invoice_vs_ledger", number, invoice.total - invoice.prepaid, receivable,
              _("The receivable posted at issue differs from what the invoice left to pay."),
              _("Post an adjustment with a reason, or a credit note."))
    )  # fmt: skip
    paid = -_posted(source=source, kind="invoice.pay", purpose=Purpose.BUYER_RECEIVABLE, organisation=org)
    out.append(
        Check(org, "buyer", "payments_vs_ledger", number, invoice.paid, paid,
              _("Payments recorded on the invoice differ from the ledger's."), _("Investigate; adjust with a reason."))
    )  # fmt: skip
    if invoice.due > 0:
        out.append(
            Check(org, "buyer", "invoice_unpaid", number, invoice.total - invoice.prepaid, invoice.paid,
                  _("Not paid yet: the buyer's prepaid funds do not cover it."),
                  _("The buyer tops up (bank transfer or card); the hourly task collects it."))
        )  # fmt: skip
    notes = list(Invoice.objects.filter(corrects=invoice, kind=InvoiceKind.CREDIT_NOTE))
    if notes:
        credited = -_posted(source=source, kind="credit_note.issue", purpose=Purpose.BUYER_CASH, organisation=org)
        out.append(
            Check(org, "buyer", "credit_notes_vs_ledger", number, sum((n.total for n in notes), ZERO), credited,
                  _("The credit notes' credit to prepaid funds differs from the notes."),
                  _("Investigate; adjust with a reason."))
        )  # fmt: skip
    return out


def _paid_at_trades(invoice: Invoice) -> Decimal:
    """What the invoice's trades took from the buyer (its holds and prepaid funds), by the ledger:
    the buyer's postings in the settlements of their instruments' matching batches (each batch's
    ``trade.settle`` entry, named ``match:<instrument>:…``). A buyer's trades on an instrument are
    all billed by one invoice, the month's its window starts in."""
    from marketplace.models import Trade

    trades = Trade.objects.filter(contract__in=invoice.lines.filter(contract__isnull=False).values("contract_id"))
    batches = Q()
    for instrument in sorted(set(trades.values_list("instrument_id", flat=True))):
        batches |= Q(transaction__source__startswith=f"match:{instrument}:")
    if not batches:
        return ZERO
    rows = Posting.objects.filter(
        batches,
        transaction__kind="trade.settle",
        account__organisation=invoice.organisation,
        account__purpose__in=[Purpose.BUYER_HOLDS, Purpose.BUYER_CASH],
    )
    return rows.aggregate(s=Sum("amount"))["s"] or ZERO


def _provider_checks(org: Organisation, period: date, now: datetime) -> list[Check]:
    statement = Statement.objects.filter(provider=org, period=period).first()
    if statement is None:
        return [
            Check(
                org,
                "provider",
                "statement_issued",
                "",
                ZERO,
                ZERO,
                _("The month's statement is not issued yet."),
                _("It follows the month's invoices in the hourly task."),
            )  # fmt: skip
        ]
    out = []
    now_figures = statement_figures(provider=org, period=period, until=statement.issued_at)
    gross_now = now_figures["gross_retail"] + now_figures["gross_wholesale"]
    out.append(
        Check(org, "provider", "statement_vs_charges", statement.number, gross_now, statement.gross,
              _("Charges for the provider's capacity changed after the statement (late usage, adjustments)."),
              _("They appear on the next statement."))
    )  # fmt: skip
    commission = -_posted(source=f"statement:{statement.pk}", kind="statement.commission",
                          purpose=Purpose.COMMISSION_REVENUE, organisation=None)  # fmt: skip
    out.append(
        Check(org, "provider", "commission_vs_ledger", statement.number, statement.commission, commission,
              _("The commission posted differs from the statement's."), _("Post an adjustment with a reason."))
    )  # fmt: skip
    # payouts pay statements oldest first: this one is paid by what was paid out beyond the earlier nets
    earlier = Statement.objects.filter(provider=org, period__lt=period).aggregate(s=Sum("net"))["s"] or ZERO
    owed = max(statement.net, ZERO)
    paid = min(max(_paid_out(org) - earlier, ZERO), owed)
    out.append(
        Check(org, "provider", "statement_vs_payout", statement.number, owed, paid,
              _("Not paid out yet (or only in part)."), _("Record the payout (bank or Stripe) on /operator/money/."))
    )  # fmt: skip
    return out


def _paid_out(org: Organisation) -> Decimal:
    """All that left the provider's payable as payouts (a returned Stripe transfer comes back)."""
    return _sum_amounts(payouts_for_org(organisation=org))


def reconcile(*, period: date, now: datetime | None = None) -> list[Check]:
    """Every check of the period, buyers first, then providers, by organisation."""
    from marketplace.models import Trade

    now = now or timezone.now()
    buyers = _buyers_with_charges(period) | set(
        Invoice.objects.filter(period=period).values_list("organisation_id", flat=True)
    )
    start, end = period_bounds(period)
    providers = set(Statement.objects.filter(period=period).values_list("provider_id", flat=True))
    providers |= set(
        Trade.objects.filter(instrument__window_start__gte=start, instrument__window_start__lt=end).values_list(
            "seller_id", flat=True
        )
    )
    checks: list[Check] = []
    for org in Organisation.objects.filter(pk__in=buyers).order_by("slug"):
        checks += _buyer_checks(org, period)
    for org in Organisation.objects.filter(pk__in=providers).order_by("slug"):
        checks += _provider_checks(org, period, now)
    return checks


def reconciliation_rows(*, period: date, now: datetime | None = None) -> list[tuple[Check, ReconciliationNote | None]]:
    """Every check with the operator's explanation of its difference, if it has one for this very
    difference (a note explains an amount: if the figures move, the new difference needs its own)."""
    notes = {(n.key, n.difference): n for n in ReconciliationNote.objects.filter(period=period)}
    return [(c, notes.get((c.key, c.difference)) if c.difference else None) for c in reconcile(period=period, now=now)]


def differences(*, period: date, now: datetime | None = None) -> list[tuple[Check, ReconciliationNote | None]]:
    return [(c, note) for c, note in reconciliation_rows(period=period, now=now) if c.difference]


def difference_explain(*, actor, period: date, key: str, difference: Decimal, reason: str) -> ReconciliationNote:
    """The operator explains one difference (audited); the period can then close with it."""
    reason = required_reason(reason)
    if ReconciliationClose.objects.filter(period=period).exists():
        raise Conflict(gettext("This period is closed."), code="period_closed")
    match = next((c for c, _ in differences(period=period) if c.key == key and c.difference == difference), None)
    if match is None:
        raise ExchangeError.on_field(
            "key", "not_found", gettext("No such difference in this period (it may have changed).")
        )
    note, _ = ReconciliationNote.objects.update_or_create(
        period=period, key=key, difference=difference, defaults={"reason": reason, "actor": actor}
    )
    audit_record(actor=actor, action="reconciliation.explain", organisation=match.organisation, target=key,
                 detail={"period": f"{period:%Y-%m}", "difference": str(difference), "reason": reason})  # fmt: skip
    return note


@transaction.atomic
def period_close(*, actor, period: date, now: datetime | None = None) -> ReconciliationClose:
    """Close a period whose differences are all zero or explained; refused otherwise."""
    now = now or timezone.now()
    if period_bounds(period)[1] > now:
        raise Conflict(gettext("The month has not ended yet."), code="period_open")
    existing = ReconciliationClose.objects.filter(period=period).first()
    if existing is not None:
        return existing
    open_ = [c for c, note in differences(period=period, now=now) if note is None]
    if open_:
        raise Conflict(
            gettext("%(n)s difference(s) are neither zero nor explained.") % {"n": len(open_)},
            code="unexplained_differences",
            fields={
                "differences": [{"code": c.check, "detail": f"{c.organisation.slug}: {c.difference}"} for c in open_]
            },
        )
    closed = ReconciliationClose.objects.create(period=period, closed_by=actor, closed_at=now)
    audit_record(actor=actor, action="reconciliation.close", target=f"{period:%Y-%m}")
    return closed


def reconciliation_csv(*, period: date) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["organisation", "role", "check", "document", "expected", "actual", "difference", "cause",
                     "resolution", "explanation"])  # fmt: skip
    for c, note in reconciliation_rows(period=period):
        writer.writerow([c.organisation.slug, c.role, c.check, c.document, c.expected, c.actual, c.difference,
                         c.cause if c.difference else "", c.resolution if c.difference else "",
                         note.reason if note else ""])  # fmt: skip
    return out.getvalue()
