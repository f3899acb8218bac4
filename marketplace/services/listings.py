"""Retail listings (trading standard §5, §8): a provider posts units of one of its connected pools
at a price per unit-hour, never below the class × region cost. Listing offers the units in the
capacity layer for the availability (a standing offer), so wholesale asks and contracts cannot
take them meanwhile and every reservation finds what the listing showed; withdrawing gives back
what was not reserved."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Membership, Organisation, User
from accounts.selectors import membership_role
from catalog.capacity import MAX_HOURS
from catalog.locks import pools_lock
from catalog.models import Pool, PoolResource, PoolStatus
from catalog.selectors import reference_prices
from catalog.services import capacity_offer_standing, capacity_withdraw_standing
from config.errors import ExchangeError, NotAllowed
from marketplace.models import Billing, Listing, ListingStatus
from marketplace.models.retail import PER_TIME_MINIMUM_MINUTES

LONGEST_AVAILABILITY = timedelta(hours=MAX_HOURS - 1)  # its whole hours fit one capacity query
PRICE_PLACES = 4  # §1: unit prices have up to 4 decimals


@dataclass(frozen=True)
class ListingTerms:
    pool_id: int
    resource_class: str
    units: int
    price: Decimal
    billing: str
    minimum_minutes: int
    available_from: datetime
    available_until: datetime


def writer_check(*, actor: User | None, organisation: Organisation, what: str) -> None:
    """Owners, admins and traders write; the role is read as order entry reads it (no query when
    the API key brought it)."""
    role = None
    if actor and actor.pk:
        role = membership_role(user_id=actor.pk, organisation_id=organisation.pk, user=actor)
    if role is None or role == Membership.Role.VIEWER:
        message = {
            "reserve capacity": gettext("Only owners, admins and traders reserve capacity."),
            "cancel reservations": gettext("Only owners, admins and traders cancel reservations."),
            "list capacity": gettext("Only owners, admins and traders list capacity."),
            "withdraw listings": gettext("Only owners, admins and traders withdraw listings."),
            "state demands": gettext("Only owners, admins and traders state demands."),
            "confirm demands": gettext("Only owners, admins and traders confirm or cancel demands."),
        }.get(what, f"Only owners, admins and traders {what}.")
        raise NotAllowed(message, code="role_required")


def cost_floor(*, resource_class: str, region: str) -> Decimal:
    """§8 ``cost`` of a unit-hour of the class in the region (exact): no listing is priced below."""
    (price,) = reference_prices(resource_class=resource_class, region=region)
    return price.cost.cost


def _check_terms(terms: ListingTerms, *, now: datetime) -> None:
    if terms.units < 1:
        raise ExchangeError.on_field("units", "min_value", gettext("List at least 1 unit."))
    if terms.price <= 0 or -terms.price.as_tuple().exponent > PRICE_PLACES:
        raise ExchangeError.on_field("price", "invalid", gettext("The price is positive with at most 4 decimals."))
    if terms.billing not in Billing.values:
        raise ExchangeError.on_field(
            "billing",
            "invalid_choice",
            gettext("Billing is one of %(choices)s.") % {"choices": ", ".join(Billing.values)},
        )
    least = PER_TIME_MINIMUM_MINUTES if terms.billing == Billing.PER_TIME else 1
    if terms.minimum_minutes < least:
        raise ExchangeError.on_field(
            "minimum_minutes",
            "bad_duration",
            gettext("The minimum duration is at least %(n)s minute(s) for this billing.") % {"n": least},
        )
    start, end = max(terms.available_from, now), terms.available_until
    if end <= start:
        raise ExchangeError.on_field(
            "available_until",
            "bad_availability",
            gettext("The availability must end after it starts and in the future."),
        )
    if end - terms.available_from > LONGEST_AVAILABILITY:
        raise ExchangeError.on_field(
            "available_until",
            "bad_availability",
            gettext("A listing is available for at most %(n)s hours.") % {"n": MAX_HOURS - 1},
        )
    if end - start < timedelta(minutes=terms.minimum_minutes):
        raise ExchangeError.on_field(
            "minimum_minutes", "bad_duration", gettext("The minimum duration does not fit in the availability.")
        )


@transaction.atomic(durable=True)
def listing_create(*, actor: User | None, organisation: Organisation, terms: ListingTerms) -> Listing:
    """Post a listing, or refuse it with a reason code (``below_cost_floor``,
    ``insufficient_capacity``, ``pool_not_connected``, ``bad_duration``, ``bad_availability``…).
    The pool's units are offered for the availability from now on, under the pool's row lock."""
    if not organisation.is_provider:
        raise NotAllowed(gettext("Only provider organisations list capacity."), code="not_a_provider")
    writer_check(actor=actor, organisation=organisation, what="list capacity")
    now = timezone.now()
    _check_terms(terms, now=now)
    pool = Pool.objects.for_org(organisation).filter(pk=terms.pool_id).first()
    if pool is None:
        raise ExchangeError.on_field("pool", "not_found", gettext("No such pool of yours."))
    pools_lock(pool_ids=[pool.pk])
    pool.refresh_from_db(fields=["status"])
    if pool.status != PoolStatus.CONNECTED:
        raise ExchangeError.on_field(
            "pool", "pool_not_connected", gettext("Only connected pools (并网) sell capacity.")
        )
    if not PoolResource.objects.filter(pool=pool, resource_class_id=terms.resource_class).exists():
        raise ExchangeError.on_field(
            "resource_class", "invalid_choice", gettext("The pool has no units of this class.")
        )
    floor = cost_floor(resource_class=terms.resource_class, region=pool.region_id)
    if terms.price < floor:
        raise ExchangeError.on_field(
            "price",
            "below_cost_floor",
            gettext(
                "The price is below the cost of a %(cls)s unit-hour in %(region)s (%(floor)s, trading standard §8)."
            )
            % {"cls": terms.resource_class, "region": pool.region_id, "floor": floor.quantize(Decimal("0.0001"))},
        )
    listing = Listing.objects.create(
        provider=organisation, pool=pool, resource_class_id=terms.resource_class, units=terms.units,
        price=terms.price, billing=terms.billing, minimum_minutes=terms.minimum_minutes,
        available_from=terms.available_from, available_until=terms.available_until,
        created_by=actor if getattr(actor, "pk", None) else None,
    )  # fmt: skip
    try:
        capacity_offer_standing(
            prefix=listing.capacity_prefix, pool_id=pool.pk, resource_class=terms.resource_class,
            units=terms.units, start=max(terms.available_from, now), end=terms.available_until,
        )  # fmt: skip
    except ExchangeError as exc:
        if exc.code != "insufficient_capacity":
            raise
        raise ExchangeError.on_field(
            "units", exc.code, exc.detail + " " + gettext("List fewer units or a shorter time.")
        ) from exc
    return listing


@transaction.atomic(durable=True)
def listing_withdraw(*, actor: User | None, organisation: Organisation, listing_id: int) -> Listing:
    """Stop selling: what is not reserved goes back to the pool. Reservations made stand.
    Withdrawing again changes nothing."""
    writer_check(actor=actor, organisation=organisation, what="withdraw listings")
    found = Listing.objects.for_org(organisation).filter(pk=listing_id).values_list("pool_id", flat=True).first()
    if found is None:
        raise ExchangeError(gettext("No such listing."), code="not_found", status=404)
    pools_lock(pool_ids=[found])  # as a reservation locks it: the two never interleave
    listing = Listing.objects.select_for_update(of=("self",)).get(pk=listing_id)
    if listing.status == ListingStatus.WITHDRAWN:
        return listing
    listing.status, listing.withdrawn_at = ListingStatus.WITHDRAWN, timezone.now()
    listing.save(update_fields=["status", "withdrawn_at"])
    capacity_withdraw_standing(prefix=listing.capacity_prefix)
    return listing
