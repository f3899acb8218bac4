"""Service-level credits (trading standard §12), issued by the hourly billing task.

Each charged delivery (a wholesale contract, a per-time reservation) is checked once, when its
delivery time is over: its availability from the heartbeats of the pools that deliver it
(``settlement.sla``), against the commitment of its tier.
Below the commitment, the buyer is credited a share of the charge by a credit note, charged back
to the provider's payable (so it appears on the provider's next statement).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import Heartbeat
from catalog.pricing import CENT, round_half_up
from config.errors import ExchangeError
from settlement import sla
from settlement.models import InvoiceKind, InvoiceLine, InvoiceLineKind, InvoiceStatus, SlaCheck
from settlement.services.invoices import credit_note_issue

log = logging.getLogger(__name__)


def pool_beats(pool_id: int, start: datetime, end: datetime) -> list[datetime]:
    """The pool's heartbeat times that decide its downtime in [start, end): the last one before
    ``start``, those inside, and the first one after (if the pool sent one)."""
    beats = Heartbeat.objects.filter(pool_id=pool_id)
    before = beats.filter(ts__lt=start).order_by("-ts").values_list("ts", flat=True).first()
    inside = list(beats.filter(ts__gte=start, ts__lt=end).order_by("ts").values_list("ts", flat=True))
    after = beats.filter(ts__gte=end).order_by("ts").values_list("ts", flat=True).first()
    return [t for t in (before, *inside, after) if t is not None]


@dataclass(frozen=True)
class _Delivered:
    """What a charged line delivered: (pool, units) over [start, end), at a tier."""

    what: str  # "contract #3", "reservation #7"
    tier: str
    start: datetime
    end: datetime
    parts: tuple[tuple[int, int], ...]  # (pool id, units)


def _delivered(line: InvoiceLine) -> _Delivered:
    if line.contract_id:
        i = line.contract.instrument
        legs = tuple((leg.pool_id, leg.units) for leg in line.contract.legs.all())
        return _Delivered(f"contract #{line.contract_id}", i.tier, i.window_start, i.window_end, legs)
    r = line.reservation
    return _Delivered(f"reservation #{r.pk}", r.pool.tier, r.start, r.billed_end, ((r.pool_id, r.units),))


def _availability(d: _Delivered, now: datetime):
    """Availability over the delivery time, weighted by the units each pool delivers."""
    parts = [
        (units, sla.down_seconds(pool_beats(pool_id, d.start, d.end), d.start, d.end, as_of=now))
        for pool_id, units in d.parts
    ]
    return sla.availability(parts, int((d.end - d.start) / timedelta(seconds=1)))


def sla_check(*, line: InvoiceLine, now: datetime) -> SlaCheck:
    """Check one charged contract or per-time reservation and credit the buyer if it earned it;
    once."""
    delivered = _delivered(line)
    exact = _availability(delivered, now)
    rate = sla.credit_rate(exact, delivered.tier)
    shown = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    commitment = sla.COMMITMENT.get(delivered.tier, sla.DEFAULT_COMMITMENT)
    with transaction.atomic():
        note = None
        credit = round_half_up(line.amount * rate, CENT)
        if credit > 0:
            note = credit_note_issue(
                actor=None,
                invoice_id=line.invoice_id,
                amount=credit,
                reason=(
                    f"Service level: {delivered.what} was available {shown * 100:.4f} % of its time, below the "
                    f"{commitment * 100:.1f} % committed for {delivered.tier}: {rate * 100:.0f} % credited"
                ),
                kind=InvoiceLineKind.SLA_CREDIT,
                provider_id=line.provider_id,
                now=now,
                idempotency_key=f"sla:line:{line.pk}",
            )
        return SlaCheck.objects.create(
            line=line, availability=shown, commitment=commitment, credit_rate=rate, credit_note=note, checked_at=now
        )


def sla_checks_due(*, now: datetime | None = None) -> int:
    """Check every charged contract whose window is over, and every per-time reservation that has
    ended, not checked yet (a periodic task). A check that cannot be paid now (the provider's
    payable is short) is retried later. Per-volume reservations are not checked: they are charged
    only for what ran, so downtime costs the buyer nothing."""
    now = now or timezone.now()
    lines = (
        InvoiceLine.objects.filter(invoice__kind=InvoiceKind.INVOICE, sla_check__isnull=True)
        .filter(
            Q(kind=InvoiceLineKind.WHOLESALE, contract__instrument__window_end__lte=now)
            | Q(kind=InvoiceLineKind.RETAIL_TIME, reservation__status__in=["completed", "cancelled"])
        )
        .exclude(invoice__status=InvoiceStatus.DRAFT)
        .select_related("contract__instrument", "reservation__pool")
        .order_by("id")
    )
    done = 0
    for line in lines:
        try:
            sla_check(line=line, now=now)
            done += 1
        except ExchangeError as exc:
            log.warning("SLA credit for invoice line %s not issued yet: %s", line.pk, exc.detail)
    return done
