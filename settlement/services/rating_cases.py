"""An invoice's charges as rating cases (trading standard Appendix A), and their re-rating: the
reconciliation's proof that each line is what the standard makes of the records behind it.

One case per product, price and provider of the invoice: its wholesale contracts and per-time
reservations as per-time cases (a contract is a reservation of its whole window with no
minimum), its per-volume usage as per-volume cases with the records the invoice was drafted from
(those received before it was issued). Re-rating goes through the written JSON, so a case file
an operator, buyer or auditor downloads rates exactly as the check here did. Trade fees,
adjustments and credits are not rating material: they are checked against the trades and the
ledger instead.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from settlement.models import Invoice, InvoiceLine, InvoiceLineKind, UsageRecord
from settlement.rating import (
    PER_TIME,
    PER_VOLUME,
    Period,
    Product,
    RatingCase,
    Reservation,
    case_loads,
    case_rate,
    case_write,
)
from settlement.rating import UsageRecord as RatedRecord
from settlement.selectors import rating_reference
from settlement.services.invoices import period_bounds

RATED_KINDS = (InvoiceLineKind.WHOLESALE, InvoiceLineKind.RETAIL_TIME, InvoiceLineKind.RETAIL_VOLUME)


@dataclass(frozen=True)
class InvoiceCase:
    label: str  # product · price · provider
    case: RatingCase
    lines: tuple[InvoiceLine, ...]  # the invoice's lines the case rates

    @property
    def billed(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


def _region(product: str) -> str:
    return product.split(".")[1]


def invoice_cases(invoice: Invoice) -> list[InvoiceCase]:
    """The invoice's rated charges as rating cases, one per product, price and provider."""

    period = Period(invoice.period.year, invoice.period.month)
    groups: dict[tuple, list[InvoiceLine]] = defaultdict(list)
    lines = (
        invoice.lines.filter(kind__in=RATED_KINDS)
        .select_related("reservation", "contract__instrument", "contract__trade")
        .order_by("id")
    )
    for line in lines:
        billing = PER_VOLUME if line.kind == InvoiceLineKind.RETAIL_VOLUME else PER_TIME
        minimum = line.reservation.minimum_minutes if line.kind == InvoiceLineKind.RETAIL_TIME else 0
        groups[(line.product, billing, line.unit_price, minimum, line.provider_id)].append(line)
    out = []
    for (code, billing, price, minimum, provider_id), group in groups.items():
        product = Product(code, billing, price, minimum)
        if billing == PER_TIME:
            reservations = []
            for line in group:
                if line.contract_id:
                    c = line.contract
                    reservations.append(Reservation(f"contract:{c.pk}", c.trade.qty, c.instrument.window_start,
                                                    c.instrument.window_end))  # fmt: skip
                else:
                    r = line.reservation
                    reservations.append(Reservation(f"reservation:{r.pk}", r.units, r.start, r.billed_end))
            case = RatingCase(period, _region(code), invoice.tax_rate, product, reservations=tuple(reservations))
        else:
            start, end = period_bounds(invoice.period)
            records = UsageRecord.objects.filter(
                buyer=invoice.organisation,
                reservation__billing="per_volume",
                reservation__price=price,
                reservation__listing__provider_id=provider_id,
                start__lt=end,
                end__gt=start,
            ).order_by("start", "record_id")
            cls, region, tier = code.split(".")[:3]
            records = records.filter(
                reservation__listing__resource_class_id=cls, reservation__pool__region_id=region,
                reservation__pool__tier=tier,
            )  # fmt: skip
            if invoice.usage_cutoff:
                records = records.filter(received_at__lte=invoice.usage_cutoff)
            rated = tuple(RatedRecord(u.record_id, u.meter, u.quantity, u.start, u.end) for u in records)
            case = RatingCase(period, region, invoice.tax_rate, product, records=rated)
        out.append(InvoiceCase(f"{code} · {price} · provider {provider_id}", case, tuple(group)))
    return out


@dataclass(frozen=True)
class Rerated:
    case: InvoiceCase
    rated: Decimal  # the case's subtotal, rated from its written JSON

    @property
    def difference(self) -> Decimal:
        return self.case.billed - self.rated


def invoice_rerate(invoice: Invoice) -> list[Rerated]:
    """Each case written as JSON, read back, rated with the catalog's tariffs; against the lines."""
    tariffs, meters = rating_reference()
    out = []
    for item in invoice_cases(invoice):
        case = case_loads(json.dumps(case_write(item.case)), meters=meters, regions=tariffs)
        out.append(Rerated(item, case_rate(case, tariff=tariffs[case.region]).subtotal))
    return out


def invoice_cases_json(invoice: Invoice) -> dict:
    """What the operator downloads: every case, and the lines of the invoice it rates."""
    return {
        "invoice": invoice.number,
        "period": f"{invoice.period:%Y-%m}",
        "cases": [
            {
                "label": item.label,
                "billed": format(item.billed, "f"),
                "case": case_write(item.case),
            }
            for item in invoice_cases(invoice)
        ],
    }
