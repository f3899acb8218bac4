"""Retail reservations (trading standard §5, §6.1): a buyer reserves units of a listing for
[start, end). Confirmation is atomic under the pool's row lock: the units come off the listing's
standing offer in the capacity layer for every hour of the time, and the buyer's funds go on
hold — the full per-time charge, or the most a per-volume reservation can cost. Either all of it
happens or none (no overselling, also when buyers race). Cancelling before the start costs
nothing; after the start, billing stops at the cancellation, to the minute, with the minimum.
The hold stays open until the invoice captures it (``reservation_charge`` says how much)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Organisation, User
from catalog.locks import pools_lock
from catalog.models import PoolStatus, TouPeriod
from catalog.services import capacity_draw, capacity_undraw, standing_free
from config.errors import Conflict, ExchangeError
from marketplace.charges import billable_minutes, per_volume_ceiling
from marketplace.models import Billing, Listing, ListingStatus, Reservation, ReservationStatus
from marketplace.services.listings import writer_check
from marketplace.shelf.rules import exact_price
from settlement.rating.per_time import time_amount
from settlement.services import funds_lock, hold_place, hold_release

# The hold outlives the reservation long enough for its month's invoice (finalised on the 1st)
# and late usage (§11); what invoicing has not captured by then goes back to the buyer.
HOLD_KEPT_AFTER_END = timedelta(days=62)


@dataclass(frozen=True)
class ReservationTerms:
    listing_id: int
    units: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Quote:
    """What a reservation would cost: per-time, the charge (= the hold); per-volume, the price in
    each time-of-use period (§7) and the hold (the most it can cost)."""

    billing: str
    minutes: int
    hold: Decimal
    charge: Decimal | None  # per-time only
    period_prices: dict[str, Decimal]  # per-volume only: {"peak": …, "flat": …, "valley": …}


def reservation_quote(*, listing: Listing, units: int, start: datetime, end: datetime) -> Quote:
    """The exact quote for reserving ``units`` of ``listing`` for [start, end) (no checks)."""
    minutes = billable_minutes(used=end - start)
    if listing.billing == Billing.PER_TIME:
        charge = time_amount(price=listing.price, units=units, minutes=minutes)
        return Quote(listing.billing, minutes, charge, charge, {})
    periods = {t.kind: exact_price(listing.price * t.multiplier) for t in TouPeriod.objects.all()}
    hold = per_volume_ceiling(price=listing.price, units=units, minutes=minutes)
    return Quote(listing.billing, minutes, hold, None, periods)


def reservation_preview(*, organisation: Organisation, terms: ReservationTerms, now: datetime | None = None) -> Quote:
    """The quote a buyer sees before confirming, with the checks confirmation makes on the terms
    themselves (whole minutes, not in the past, the listing open and not the buyer's own, the
    minimum duration, inside the availability), refused with the same reason codes. Nothing is
    stored or held; capacity and funds are checked again, under the locks, on confirmation."""
    now = now or timezone.now()
    _check_times(terms, now=now)
    listing = Listing.objects.select_related("pool").filter(pk=terms.listing_id).first()
    _check_listing(listing, terms, buyer=organisation, now=now)
    return reservation_quote(listing=listing, units=terms.units, start=terms.start, end=terms.end)


def _same_terms(reservation: Reservation, terms: ReservationTerms) -> bool:
    mine = (reservation.listing_id, reservation.units, reservation.start, reservation.end)
    return mine == (terms.listing_id, terms.units, terms.start, terms.end)


def _check_times(terms: ReservationTerms, *, now: datetime) -> None:
    if terms.units < 1:
        raise ExchangeError.on_field("units", "min_value", gettext("Reserve at least 1 unit."))
    for name in ("start", "end"):
        moment = getattr(terms, name)
        if moment.second or moment.microsecond:
            raise ExchangeError.on_field(name, "bad_duration", gettext("Times are whole minutes."))
    if terms.start < now:
        raise ExchangeError.on_field("start", "start_in_past", gettext("The start has passed."))
    if terms.end <= terms.start:
        raise ExchangeError.on_field("end", "bad_duration", gettext("The end must come after the start."))


def _check_listing(listing: Listing | None, terms: ReservationTerms, *, buyer: Organisation, now: datetime) -> None:
    if listing is None:
        raise ExchangeError.on_field("listing", "not_found", gettext("No such listing."))
    if not listing.is_open(now):
        raise ExchangeError.on_field("listing", "listing_closed", gettext("This listing no longer sells."))
    if listing.provider_id == buyer.pk:
        raise ExchangeError.on_field("listing", "own_listing", gettext("You cannot reserve your own listing."))
    if listing.pool.status != PoolStatus.CONNECTED:
        raise ExchangeError.on_field(
            "listing", "pool_not_connected", gettext("The listing's pool is not connected now.")
        )
    minutes = (terms.end - terms.start) // timedelta(minutes=1)
    if minutes < listing.minimum_minutes:
        raise ExchangeError.on_field(
            "end",
            "bad_duration",
            gettext("Reserve at least %(n)s minutes of this listing.") % {"n": listing.minimum_minutes},
        )
    if terms.start < listing.available_from or terms.end > listing.available_until:
        raise ExchangeError.on_field(
            "start",
            "outside_availability",
            gettext("The listing is available from %(start)s to %(end)s.")
            % {
                "start": f"{timezone.localtime(listing.available_from):%Y-%m-%d %H:%M}",
                "end": f"{timezone.localtime(listing.available_until):%Y-%m-%d %H:%M}",
            },
        )


def _confirm(*, actor, buyer: Organisation, terms: ReservationTerms, key: str) -> Reservation:
    existing = Reservation.objects.for_org(buyer).filter(idempotency_key=key).first()
    if existing is not None:
        if not _same_terms(existing, terms):
            raise Conflict(gettext("This Idempotency-Key was used for a different reservation."))
        return existing
    now = timezone.now()
    _check_times(terms, now=now)
    pool_id = Listing.objects.filter(pk=terms.listing_id).values_list("pool_id", flat=True).first()
    if pool_id is not None:
        pools_lock(pool_ids=[pool_id])  # every sale of the pool runs one after the other from here
    listing = Listing.objects.select_related("pool").filter(pk=terms.listing_id).first()
    _check_listing(listing, terms, buyer=buyer, now=now)
    free = standing_free(prefix=listing.capacity_prefix, start=terms.start, end=terms.end)
    if terms.units > free:
        raise ExchangeError.on_field(
            "units",
            "insufficient_capacity",
            gettext("Only %(free)s unit(s) of this listing are free for every hour of that time.") % {"free": free},
        )
    quote = reservation_quote(listing=listing, units=terms.units, start=terms.start, end=terms.end)
    available = funds_lock(organisation=buyer).available
    if quote.hold > available:
        raise ExchangeError.on_field(
            "units",
            "insufficient_funds",
            gettext("This reservation needs %(hold)s on hold; %(available)s is available.")
            % {"hold": quote.hold, "available": max(available, 0)},
        )
    reservation = Reservation.objects.create(
        listing=listing, pool_id=listing.pool_id, buyer=buyer, created_by=actor if getattr(actor, "pk", None) else None,
        idempotency_key=key, units=terms.units, start=terms.start, end=terms.end, price=listing.price,
        billing=listing.billing, minimum_minutes=listing.minimum_minutes, hold_amount=quote.hold, created_at=now,
    )  # fmt: skip
    capacity_draw(
        prefix=listing.capacity_prefix, pool_id=listing.pool_id, resource_class=listing.resource_class_id,
        source=reservation.capacity_source, units=terms.units, start=terms.start, end=terms.end,
    )  # fmt: skip
    hold = hold_place(
        idempotency_key=f"reservation:{reservation.pk}:hold", organisation=buyer, amount=quote.hold,
        reference=f"reservation {reservation.pk}", expires_at=terms.end + HOLD_KEPT_AFTER_END,
    )  # fmt: skip
    reservation.hold_id = hold.hold.pk
    reservation.save(update_fields=["hold_id"])
    return reservation


def reservation_place(
    *, actor: User | None, organisation: Organisation, terms: ReservationTerms, idempotency_key: str
) -> Reservation:
    """Confirm a reservation or refuse it with a reason code (``insufficient_capacity``,
    ``insufficient_funds``, ``bad_duration``, ``outside_availability``, ``listing_closed``,
    ``start_in_past``, ``own_listing``, ``pool_not_connected``); once per idempotency key."""
    writer_check(actor=actor, organisation=organisation, what="reserve capacity")
    for attempt in range(2):
        try:
            with transaction.atomic(durable=True):
                return _confirm(actor=actor, buyer=organisation, terms=terms, key=idempotency_key)
        except IntegrityError:  # the same key, concurrently: the other request committed first
            if attempt:
                raise
    raise AssertionError("unreachable")


def reservation_place_within(
    *, actor: User | None, organisation: Organisation, terms: ReservationTerms, idempotency_key: str
) -> Reservation:
    """``reservation_place`` inside the caller's transaction (which must be open), for an
    operation that places several things at once or none (a scheduled demand's confirmation):
    the same checks and locks (the pool, then the buyer's funds), refusing with the same reason
    codes; nothing is committed until the caller commits."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("reservation_place_within needs the caller's transaction")
    writer_check(actor=actor, organisation=organisation, what="reserve capacity")
    with transaction.atomic():  # a savepoint: a key taken concurrently fails this alone
        return _confirm(actor=actor, buyer=organisation, terms=terms, key=idempotency_key)


def _used_ceiling(reservation: Reservation, used: timedelta) -> Decimal:
    """What the hold must keep once billing stops after ``used``."""
    if reservation.billing == Billing.PER_TIME:
        minutes = billable_minutes(used=used, minimum_minutes=reservation.minimum_minutes)
        return time_amount(price=reservation.price, units=reservation.units, minutes=minutes)
    return per_volume_ceiling(price=reservation.price, units=reservation.units, minutes=billable_minutes(used=used))


@transaction.atomic(durable=True)
def reservation_cancel(*, actor: User | None, organisation: Organisation, reservation_id: int) -> Reservation:
    """Cancel (§6.1). Before the start: free, the hold released and the capacity back on the
    listing. After the start: the cancellation time becomes the actual end, billed to the minute
    with the minimum; the capacity hours after it and the hold beyond the charge go back.
    Cancelling a cancelled reservation changes nothing; a finished one is ``reservation_finished``."""
    writer_check(actor=actor, organisation=organisation, what="cancel reservations")
    found = Reservation.objects.for_org(organisation).filter(pk=reservation_id).values_list("pool_id", flat=True)
    if not found:
        raise ExchangeError(gettext("No such reservation."), code="not_found", status=404)
    pools_lock(pool_ids=[found[0]])
    reservation = Reservation.objects.select_for_update(of=("self",)).select_related("listing").get(pk=reservation_id)
    if reservation.status == ReservationStatus.CANCELLED:
        return reservation
    now = timezone.now()
    if reservation.status != ReservationStatus.CONFIRMED or reservation.end <= now:
        raise ExchangeError(gettext("The reservation has ended."), code="reservation_finished", status=409)
    listing = reservation.listing
    prefix = listing.capacity_prefix if listing.status == ListingStatus.ACTIVE else None
    key = f"reservation:{reservation.pk}:cancel"
    if now < reservation.start:
        capacity_undraw(prefix=prefix, source=reservation.capacity_source, cut=reservation.start)
        hold_release(idempotency_key=key, hold_id=reservation.hold_id)
    else:
        reservation.actual_end = now
        capacity_undraw(prefix=prefix, source=reservation.capacity_source, cut=now)
        excess = reservation.hold_amount - _used_ceiling(reservation, now - reservation.start)
        if excess > 0:
            hold_release(idempotency_key=key, hold_id=reservation.hold_id, amount=excess)
    reservation.transition_to(ReservationStatus.CANCELLED, actor=actor, at=now, reason="cancelled by the buyer")
    reservation.save(update_fields=["status", "actual_end", "status_changed_at", "status_changed_by", "status_reason"])
    return reservation


def reservations_complete(*, now: datetime | None = None) -> int:
    """Mark every confirmed reservation whose end has passed ``completed`` (idempotent). The
    capacity stays committed for the record and the hold stays open for the invoice."""
    now = now or timezone.now()
    done = 0
    due = list(
        Reservation.objects.filter(status=ReservationStatus.CONFIRMED, end__lte=now).values_list("pk", flat=True)[:1000]
    )
    for pk in due:
        with transaction.atomic():
            reservation = Reservation.objects.select_for_update(of=("self",)).get(pk=pk)
            if reservation.status != ReservationStatus.CONFIRMED:
                continue  # cancelled meanwhile
            reservation.transition_to(ReservationStatus.COMPLETED, at=now, reason="its time ended")
            reservation.save(update_fields=["status", "status_changed_at", "status_changed_by", "status_reason"])
            done += 1
    return done
