""" "Schedule for me" (智能调度, trading standard §10): a buyer states a demand, sees the placement a
round proposes (each part and its price, energy, carbon and latency, against the cheapest single
listing), and confirms or cancels it. Every write goes through the scheduling services."""

import uuid
from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.forms import apply_errors
from accounts.permissions import organisation_required
from config.errors import ExchangeError
from marketplace import selectors
from marketplace.forms import DemandFilterForm, DemandForm
from marketplace.services.scheduling import demand_cancel, demand_submit, proposal_confirm

PAGE = 50


def _initial() -> dict:
    """A window to start from: from two whole hours ahead, local time, for a day."""
    start = timezone.localtime().replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    return {"earliest_start": start, "latest_finish": start + timedelta(hours=24), "hours": 4, "units": 8,
            "carbon_weight": 0}  # fmt: skip


@organisation_required
def schedule(request):
    """The demand form and the organisation's demands."""
    form = DemandForm(request.POST or None, initial=_initial())
    if request.method == "POST" and form.is_valid():
        key = request.POST.get("idempotency_key") or uuid.uuid4().hex
        try:
            demand = demand_submit(actor=request.user, organisation=request.organisation, terms=form.terms(),
                                   idempotency_key=f"web:{key}")  # fmt: skip
        except ExchangeError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request, _("Demand #%(id)s submitted: a scheduling round is placing it.") % {"id": demand.pk}
            )
            return redirect("marketplace:demand_detail", demand_id=demand.pk)
    filters = DemandFilterForm(request.GET or None)
    status = filters.cleaned_data.get("status") if filters.is_valid() else None
    page = Paginator(
        selectors.demands_for_org(organisation=request.organisation, status=status or None), PAGE
    ).get_page(request.GET.get("page"))
    return render(request, "marketplace/schedule.html",
                  {"form": form, "filters": filters, "page": page, "form_key": uuid.uuid4().hex})  # fmt: skip


def _demand(request, demand_id: int):
    demand = selectors.demand_get(organisation=request.organisation, demand_id=demand_id)
    if demand is None:
        raise Http404
    return demand


@organisation_required
def demand_detail(request, demand_id: int):
    demand = _demand(request, demand_id)
    proposal = selectors.demand_proposal(demand)
    parts = list(proposal.parts.all()) if proposal else []
    return render(request, "marketplace/demand.html", {
        "demand": demand, "proposal": proposal, "parts": parts, "now": timezone.now(),
        "placed": [p for p in parts if p.reservation_id or p.order_id],
    })  # fmt: skip


@organisation_required
def demand_live(request, demand_id: int):
    """What the page's poll asks while a round runs: the demand's status."""
    demand = _demand(request, demand_id)
    return JsonResponse({"id": demand.pk, "status": demand.status})


def _demand_act(request, demand_id: int, act, done: str):
    """Run ``act`` (a scheduling service) on the organisation's demand and go back to its page: a
    demand that is not the organisation's is a 404, a refusal a message (the proposal's reason
    where it gives one)."""
    try:
        act(actor=request.user, organisation=request.organisation, demand_id=demand_id)
    except ExchangeError as exc:
        if exc.status == 404:
            raise Http404 from exc
        proposal = exc.fields.get("proposal")
        messages.error(request, proposal[0]["detail"] if proposal else exc.detail)
    else:
        messages.success(request, done)
    return redirect("marketplace:demand_detail", demand_id=demand_id)


@organisation_required
@require_POST
def demand_confirm(request, demand_id: int):
    return _demand_act(request, demand_id, proposal_confirm,
                       _("Placement confirmed: your reservations and orders are placed."))  # fmt: skip


@organisation_required
@require_POST
def demand_cancel_view(request, demand_id: int):
    return _demand_act(request, demand_id, demand_cancel, _("Demand #%(id)s cancelled.") % {"id": demand_id})
