"""The credit limit in force (trading standard §4, §11)."""

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from settlement.models import Invoice, InvoiceKind, InvoiceStatus


def credit_limit_of(organisation, *, now: datetime | None = None, limit: Decimal | None = None) -> Decimal:
    """The organisation's credit limit, or none while one of its invoices is overdue: an overdue
    buyer may still trade with its prepaid funds, but not beyond them. ``limit``: the
    organisation's limit as the caller just read it from the database (else the instance's)."""
    if limit is None:
        limit = organisation.credit_limit
    if not limit:
        return limit
    overdue = Invoice.objects.filter(
        organisation=organisation,
        kind=InvoiceKind.INVOICE,
        status=InvoiceStatus.ISSUED,
        due_at__lt=now or timezone.now(),
    )
    return Decimal("0.00") if overdue.exists() else limit
