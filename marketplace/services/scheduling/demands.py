"""Stating a demand: every field checked with a reason code, nothing stored when any fails;
once per idempotency key. A round is asked for as soon as the demand commits."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Organisation, User
from catalog.models import Region, ResourceClass
from config.errors import Conflict, ExchangeError
from marketplace.models import CityCore, Demand, DemandStatus
from marketplace.services.listings import writer_check

HOUR = timedelta(hours=1)
MAX_HOURS = 31 * 24  # a demand runs at most a month
MAX_AHEAD = timedelta(days=62)  # and finishes within about two months (a round reads that far)
MAX_UNITS = 100_000
MAX_RTT_MS = 10_000


@dataclass(frozen=True)
class DemandTerms:
    """A demand as stated: a class and units, or a minimum SCU (any GPU class) — not both."""

    hours: int
    earliest_start: datetime
    latest_finish: datetime
    resource_class: str | None = None
    units: int | None = None
    min_scu: Decimal | None = None
    city: str | None = None
    max_rtt_ms: int | None = None
    regions: tuple[str, ...] = field(default=())
    residency: str | None = None
    carbon_weight: Decimal = Decimal(0)
    max_price: Decimal | None = None


def _on_hour(moment: datetime) -> bool:
    return moment.minute == 0 and moment.second == 0 and moment.microsecond == 0


def demand_check(terms: DemandTerms, *, now: datetime) -> None:
    """Refuse the terms (every field that fails, with its reason code) or return."""
    errors: dict[str, list[dict]] = {}

    def fail(name: str, code: str, detail: str) -> None:
        errors.setdefault(name, []).append({"code": code, "detail": detail})

    if terms.resource_class and terms.min_scu is not None:
        fail("resource_class", "class_or_scu", gettext("State a class and units, or a minimum SCU — not both."))
    elif not terms.resource_class and terms.min_scu is None:
        fail("resource_class", "class_or_scu", gettext("State a class and units, or a minimum SCU."))
    elif terms.resource_class:
        cls = ResourceClass.objects.filter(pk=terms.resource_class).first()
        if cls is None:
            fail("resource_class", "unknown_class", gettext("No resource class %(c)s.") % {"c": terms.resource_class})
        if terms.units is None or terms.units < 1:
            fail("units", "min_value", gettext("Ask for at least 1 unit."))
        elif terms.units > MAX_UNITS:
            fail("units", "max_value", gettext("At most %(n)s units.") % {"n": MAX_UNITS})
    elif terms.min_scu <= 0:
        fail("min_scu", "min_value", gettext("The minimum SCU must be more than 0."))
    if terms.hours < 1:
        fail("hours", "min_value", gettext("A demand runs for at least 1 hour."))
    elif terms.hours > MAX_HOURS:
        fail("hours", "max_value", gettext("A demand runs for at most %(n)s hours.") % {"n": MAX_HOURS})
    for name in ("earliest_start", "latest_finish"):
        if not _on_hour(timezone.localtime(getattr(terms, name))):
            fail(name, "not_on_hour", gettext("Times are whole hours (e.g. 14:00)."))
    if terms.earliest_start <= now:
        fail("earliest_start", "start_in_past", gettext("The earliest start must be in the future."))
    if terms.latest_finish - terms.earliest_start < min(max(terms.hours, 1), MAX_HOURS) * HOUR:
        fail("latest_finish", "window_too_short", gettext("The window must hold the hours: finish ≥ start + hours."))
    if terms.latest_finish > now + MAX_AHEAD:
        fail("latest_finish", "window_too_far", gettext("The latest finish may be at most 62 days ahead."))
    if terms.city and terms.city not in CityCore.values:
        fail("city", "unknown_city", gettext("The city core is one of BJ, SH, GZ, CD."))
    if terms.max_rtt_ms is not None:
        if terms.max_rtt_ms < 0:
            fail("max_rtt_ms", "min_value", gettext("The latency ceiling is 0 ms or more."))
        elif terms.max_rtt_ms > MAX_RTT_MS:
            fail("max_rtt_ms", "max_value", gettext("The latency ceiling is at most %(n)s ms.") % {"n": MAX_RTT_MS})
        if not terms.city:
            fail("city", "city_required", gettext("A latency ceiling needs the city core it is measured to."))
    known = set(Region.objects.values_list("code", flat=True))
    unknown = sorted(set(terms.regions) - known)
    if unknown:
        fail("regions", "unknown_region", gettext("No region %(codes)s.") % {"codes": ", ".join(unknown)})
    if terms.residency:
        if terms.residency not in known:
            fail("residency", "unknown_region", gettext("No region %(codes)s.") % {"codes": terms.residency})
        elif terms.regions and terms.residency not in terms.regions:
            message = gettext("The residency region must be one of the allowed regions.")
            fail("residency", "residency_not_allowed", message)
    if terms.carbon_weight < 0:
        fail("carbon_weight", "min_value", gettext("The carbon weight is 0 or more (¥ per kg CO₂)."))
    if terms.max_price is not None and terms.max_price <= 0:
        fail("max_price", "min_value", gettext("The maximum price must be more than 0."))
    if errors:
        first = next(iter(errors.values()))[0]
        raise ExchangeError(first["detail"], code=first["code"], fields=errors)


def _row(terms: DemandTerms) -> dict:
    return {
        "resource_class_id": terms.resource_class or None,
        "units": (terms.units or 0) if terms.resource_class else 0,
        "min_scu": terms.min_scu if not terms.resource_class else None,
        "hours": terms.hours,
        "earliest_start": terms.earliest_start,
        "latest_finish": terms.latest_finish,
        "city": terms.city or "",
        "max_rtt_ms": terms.max_rtt_ms,
        "regions": sorted(set(terms.regions)),
        "residency_id": terms.residency or None,
        "carbon_weight": terms.carbon_weight,
        "max_price": terms.max_price,
    }


def _same_terms(demand: Demand, terms: DemandTerms) -> bool:
    return all(getattr(demand, name) == value for name, value in _row(terms).items())


def demand_submit(
    *, actor: User | None, organisation: Organisation, terms: DemandTerms, idempotency_key: str
) -> Demand:
    """Accept a demand for the next scheduling round, or refuse it with reason codes per field;
    once per idempotency key (a repeat returns the first demand; other terms: ``conflict``)."""
    writer_check(actor=actor, organisation=organisation, what="state demands")
    existing = Demand.objects.for_org(organisation).filter(idempotency_key=idempotency_key).first()
    if existing is None:
        demand_check(terms, now=timezone.now())
        try:
            with transaction.atomic(durable=True):
                demand = Demand.objects.create(
                    organisation=organisation, created_by=actor if getattr(actor, "pk", None) else None,
                    idempotency_key=idempotency_key, status=DemandStatus.SUBMITTED, created_at=timezone.now(),
                    **_row(terms),
                )  # fmt: skip
                transaction.on_commit(_round_soon)
                return demand
        except IntegrityError:  # the same key, concurrently: the other request committed first
            existing = Demand.objects.for_org(organisation).filter(idempotency_key=idempotency_key).first()
            if existing is None:
                raise
    if not _same_terms(existing, terms):
        raise Conflict(gettext("This Idempotency-Key was used for a different demand."))
    return existing


def _round_soon() -> None:
    """Ask a worker for a round now, so the buyer sees a proposal within seconds (the periodic
    round would come within 30 s anyway)."""
    from django.conf import settings

    if not settings.SCHEDULING_DISPATCH:
        return
    from marketplace.tasks import scheduling_round_task

    scheduling_round_task.delay()
