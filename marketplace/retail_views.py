"""The retail shelf (零售): open listings, a listing's page with its reservation form (quote, then
confirm), my reservations with cancel, and a provider's listings with create and withdraw. Every
write goes through ``marketplace.services``."""

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.forms import apply_errors
from accounts.permissions import organisation_required, provider_required
from catalog.models import PoolStatus
from catalog.selectors import pools_for_org, tou_multipliers
from config.errors import ExchangeError
from marketplace import selectors, services
from marketplace.forms import ListingForm, ReservationFilterForm, ReservationForm, RetailFilterForm
from marketplace.models import Billing
from marketplace.shelf.rules import tou_hours
from settlement.selectors import usage_by_reservation

PAGE = 50


@organisation_required
def retail_index(request):
    form = RetailFilterForm(request.GET or None)
    page = Paginator(selectors.listings_open(**form.criteria()), PAGE).get_page(request.GET.get("page"))
    return render(request, "marketplace/retail_index.html", {"form": form, "page": page})


def reservation_flow(request, listing):
    """The reservation form of a listing (its page's and a retail product page's): "Quote" checks
    the terms and shows the exact charge (per time) or the tariff by time-of-use period and the
    hold (per volume), storing nothing; "Confirm" recomputes it all and reserves those very terms.
    Returns (form, quote, redirect after a confirmation or None)."""
    form = ReservationForm(request.POST or None, initial={"units": 1})
    quote = None
    if request.method == "POST" and form.is_valid():
        terms = form.terms(listing_id=listing.pk)
        try:
            if request.POST.get("confirm"):
                key = request.POST.get("idempotency_key") or uuid.uuid4().hex
                reservation = services.reservation_place(
                    actor=request.user, organisation=request.organisation, terms=terms, idempotency_key=f"web:{key}"
                )
                messages.success(
                    request,
                    _("Reservation #%(id)s confirmed: %(units)s unit(s), %(hold)s on hold.")
                    % {"id": reservation.pk, "units": reservation.units, "hold": reservation.hold_amount},
                )
                return form, None, redirect("marketplace:reservations")
            quote = services.reservation_preview(organisation=request.organisation, terms=terms)
        except ExchangeError as exc:
            apply_errors(form, exc)
    return form, quote, None


def listing_tariff(listing) -> list:
    """A per-volume listing's price in each time-of-use period of its region, with the local
    hours of each (§7); empty for per-time."""
    if listing.billing != Billing.PER_VOLUME:
        return []
    return tou_hours(by_local_hour=listing.pool.region.tou_by_local_hour, multipliers=tou_multipliers(),
                     price=listing.price)  # fmt: skip


@organisation_required
def listing_detail(request, listing_id: int):
    listing = selectors.listings_open().filter(pk=listing_id).first()
    if listing is None:
        raise Http404
    form, quote, done = reservation_flow(request, listing)
    if done is not None:
        return done
    return render(
        request,
        "marketplace/listing.html",
        {"listing": listing, "form": form, "quote": quote, "tariff": listing_tariff(listing),
         "form_key": uuid.uuid4().hex},
    )  # fmt: skip


@organisation_required
def reservations(request):
    form = ReservationFilterForm(request.GET or None)
    status = form.cleaned_data.get("status") if form.is_valid() else None
    rows = selectors.reservations_for_org(organisation=request.organisation, status=status or None)
    page = Paginator(rows, PAGE).get_page(request.GET.get("page"))
    page.object_list = _with_usage(page.object_list, organisation=request.organisation)
    return render(request, "marketplace/reservations.html", {"form": form, "page": page})


def _with_usage(reservations, *, organisation):
    """Set ``used_hours`` on each reservation: the unit-hours its pool's machines reported so far
    (None before the first record)."""
    reservations = list(reservations)
    used = usage_by_reservation(organisation=organisation, reservation_ids=[r.pk for r in reservations])
    for r in reservations:
        r.used_hours = used.get(r.pk)
    return reservations


@organisation_required
@require_POST
def reservation_cancel(request, reservation_id: int):
    try:
        reservation = services.reservation_cancel(
            actor=request.user, organisation=request.organisation, reservation_id=reservation_id
        )
    except ExchangeError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Reservation #%(id)s cancelled.") % {"id": reservation.pk})
    return redirect("marketplace:reservations")


@provider_required
def my_listings(request):
    pools = pools_for_org(organisation=request.organisation).filter(status=PoolStatus.CONNECTED)
    form = ListingForm(request.POST or None, pools=pools.prefetch_related("resources"))
    if request.method == "POST" and form.is_valid():
        try:
            listing = services.listing_create(actor=request.user, organisation=request.organisation, terms=form.terms())
        except ExchangeError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Listing #%(id)s is on the shelf.") % {"id": listing.pk})
            return redirect("marketplace:my_listings")
    listings = selectors.listings_for_org(organisation=request.organisation)
    page = Paginator(listings, PAGE).get_page(request.GET.get("page"))
    # what the pools must deliver: the machines report usage against these reservation numbers
    sold = _with_usage(
        selectors.reservations_on_listings(organisation=request.organisation)[:PAGE], organisation=request.organisation
    )
    return render(request, "marketplace/my_listings.html", {"form": form, "page": page, "sold": sold})


@provider_required
@require_POST
def listing_withdraw(request, listing_id: int):
    try:
        listing = services.listing_withdraw(
            actor=request.user, organisation=request.organisation, listing_id=listing_id
        )
    except ExchangeError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Listing #%(id)s withdrawn.") % {"id": listing.pk})
    return redirect("marketplace:my_listings")
