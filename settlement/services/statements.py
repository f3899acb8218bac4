"""Provider statements (trading standard §11), issued once the month's invoices are.

For a provider and a month: gross = what buyers were charged for its capacity on that month's
invoices (VAT excluded), retail and wholesale apart; commission 5 % of retail gross and 1 % of
wholesale gross, each rounded half-up to the fen; its seller trade fees on the month's contracts;
the charge-backs of credit notes charged to it since its last statement; net = gross − all
three, which is exactly what the month added to its payable:

- retail gross was credited to the payable when the invoice was issued, wholesale notional less
  the seller's fee when the trade settled, charge-backs debited when the credit note was issued;
- the commission is debited now, in the statement's own ledger entry.

The payable is then paid out through the ledger's payout flow (bank or Stripe Connect).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Organisation
from catalog.pricing import CENT, round_half_up
from config.errors import Conflict
from settlement.models import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    Purpose,
    Statement,
)
from settlement.services.invoices import _buyers_with_charges, _next_number, period_before, period_bounds, period_of
from settlement.services.ledger import Line, account_for, ledger_post

RETAIL_COMMISSION = Decimal("0.05")
WHOLESALE_COMMISSION = Decimal("0.01")
RETAIL_KINDS = (InvoiceLineKind.RETAIL_TIME, InvoiceLineKind.RETAIL_VOLUME, InvoiceLineKind.ADJUSTMENT)


def sum_of(qs, field="amount") -> Decimal:
    """The sum of a queryset's ``field``, 0.00 when it has no rows."""
    return qs.aggregate(s=Sum(field))["s"] or Decimal("0.00")


def statement_figures(*, provider: Organisation, period: date, until: datetime) -> dict:
    """The statement's figures as they stand: from the month's issued invoices, the month's
    trades and the charge-backs issued after the provider's last statement, up to ``until``."""
    from marketplace.models import Trade

    lines = InvoiceLine.objects.filter(
        provider=provider, invoice__period=period, invoice__kind=InvoiceKind.INVOICE
    ).exclude(invoice__status=InvoiceStatus.DRAFT)
    gross_retail = sum_of(lines.filter(kind__in=RETAIL_KINDS))
    gross_wholesale = sum_of(lines.filter(kind=InvoiceLineKind.WHOLESALE))
    start, end = period_bounds(period)
    fees = sum_of(
        Trade.objects.filter(seller=provider, instrument__window_start__gte=start, instrument__window_start__lt=end),
        "seller_fee",
    )
    last = Statement.objects.filter(provider=provider).order_by("-issued_at").first()
    notes = InvoiceLine.objects.filter(
        provider=provider, invoice__kind=InvoiceKind.CREDIT_NOTE, invoice__issued_at__lte=until
    )
    if last is not None:
        notes = notes.filter(invoice__issued_at__gt=last.issued_at)  # (last statement, this one]
    chargebacks = sum_of(notes)
    commission_retail = round_half_up(gross_retail * RETAIL_COMMISSION, CENT)
    commission_wholesale = round_half_up(gross_wholesale * WHOLESALE_COMMISSION, CENT)
    return {
        "gross_retail": gross_retail,
        "gross_wholesale": gross_wholesale,
        "commission_retail": commission_retail,
        "commission_wholesale": commission_wholesale,
        "trade_fees": fees,
        "chargebacks": chargebacks,
        "net": gross_retail + gross_wholesale - commission_retail - commission_wholesale - fees - chargebacks,
    }


def statement_issue(*, provider: Organisation, period: date, now: datetime | None = None) -> Statement:
    """Issue the provider's statement of a month whose invoices are issued; once."""
    now = now or timezone.now()
    if period_bounds(period)[1] > now:
        raise Conflict(gettext("The month has not ended yet."), code="period_open")
    with transaction.atomic():
        Organisation.objects.select_for_update().filter(pk=provider.pk).first()  # one issuer at a time
        existing = Statement.objects.filter(provider=provider, period=period).first()
        if existing is not None:
            return existing
        figures = statement_figures(provider=provider, period=period, until=now)
        statement = Statement.objects.create(
            provider=provider, period=period, number=_next_number(f"ST-{period:%Y}"), issued_at=now, **figures
        )
        commission = statement.commission
        if commission:
            ledger_post(
                idempotency_key=f"statement:{statement.pk}:commission",
                kind="statement.commission",
                lines=[
                    Line(account_for(purpose=Purpose.PROVIDER_PAYABLE, organisation=provider), commission),
                    Line(account_for(purpose=Purpose.COMMISSION_REVENUE), -commission),
                ],
                memo=f"Commission, statement {statement.number}",
                source=f"statement:{statement.pk}",
            )
    return statement


def statements_issue_due(*, now: datetime | None = None) -> list[str]:
    """Issue last month's statements once no draft invoice of that month is left (a periodic
    task, after the invoices): every provider charged on an invoice or with a trade that month."""
    from marketplace.models import Trade

    now = now or timezone.now()
    last = period_before(period_of(now))
    issued = Invoice.objects.filter(period=last, kind=InvoiceKind.INVOICE).exclude(status=InvoiceStatus.DRAFT)
    if _buyers_with_charges(last) - set(issued.values_list("organisation_id", flat=True)):
        return []  # the month's invoices come first
    start, end = period_bounds(last)
    ids = set(
        InvoiceLine.objects.filter(invoice__period=last, provider__isnull=False)
        .exclude(invoice__status=InvoiceStatus.DRAFT)
        .values_list("provider_id", flat=True)
    )
    ids |= set(
        Trade.objects.filter(instrument__window_start__gte=start, instrument__window_start__lt=end).values_list(
            "seller_id", flat=True
        )
    )
    done = set(Statement.objects.filter(period=last).values_list("provider_id", flat=True))
    providers = Organisation.objects.filter(pk__in=ids - done).order_by("pk")
    return [statement_issue(provider=provider, period=last, now=now).number for provider in providers]
