from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import ApiKeyForm, MemberForm, OrganisationForm, apply_errors
from accounts.middleware import SESSION_KEY
from accounts.permissions import organisation_required
from config.errors import ExchangeError


def home(request):
    return render(request, "home.html")


@login_required
def dashboard(request):
    invitations = selectors.invitations_for_user(user=request.user)
    if request.organisation is None and not invitations:
        messages.info(request, _("Create or join an organisation first."))
        return redirect("accounts:organisation_create")
    context = {"invitations": invitations, "members": []}
    if request.organisation is not None:
        context["members"] = selectors.members_for_org(organisation=request.organisation)
        context["summary"] = _account_summary(request.organisation)
    return render(request, "accounts/dashboard.html", context)


DASHBOARD_ROWS = 5


def _account_summary(organisation) -> dict:
    """The account at a glance: funds, open orders, latest fills, active contracts and
    reservations, this month's usage and the last invoice. The page composes the marketplace's and
    settlement's own reads (imported here: accounts sits below both)."""
    from django.db.models import F
    from django.utils import timezone

    from marketplace import selectors as market
    from marketplace.models import Order, ReservationStatus
    from settlement import selectors as money
    from settlement.services import available_funds
    from settlement.services.invoices import period_of

    now = timezone.now()
    open_orders = Order.objects.for_org(organisation).live().select_related("instrument")
    contracts = market.contracts_for_org(organisation=organisation).filter(
        instrument__window_end__gt=now, qty__gt=F("resold")
    )
    reservations = market.reservations_for_org(organisation=organisation, status=ReservationStatus.CONFIRMED).filter(
        end__gt=now
    )
    period = period_of(now)
    return {
        "funds": available_funds(organisation=organisation),
        "open_orders": open_orders.count(),
        "orders": list(open_orders[:DASHBOARD_ROWS]),
        "fills": list(market.fills_for_org(organisation=organisation)[:DASHBOARD_ROWS]),
        "contracts": contracts.count(),
        "contract_rows": list(contracts.order_by("instrument__window_start", "pk")[:DASHBOARD_ROWS]),
        "reservations": reservations.count(),
        "reservation_rows": list(reservations.order_by("start", "pk")[:DASHBOARD_ROWS]),
        "period": period,
        "usage": money.usage_month(organisation=organisation, period=period),
        "last_invoice": money.invoices_for_org(organisation=organisation).exclude(status="draft").first(),
        "draft": money.invoices_for_org(organisation=organisation).filter(status="draft", period=period).first(),
    }


@login_required
@require_POST
def invitation_accept(request, invitation_id: int):
    try:
        membership = services.invitation_accept(user=request.user, invitation_id=invitation_id)
    except ExchangeError as exc:
        messages.error(request, exc.detail)
    else:
        request.session[SESSION_KEY] = membership.organisation_id
        messages.success(request, _("You joined %(name)s.") % {"name": membership.organisation.name})
    return redirect("accounts:dashboard")


@login_required
def organisation_create(request):
    form = OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = services.organisation_create(user=request.user, **form.cleaned_data)
        except ExchangeError as exc:
            apply_errors(form, exc)
        else:
            request.session[SESSION_KEY] = org.pk
            messages.success(request, _("Organisation %(name)s created.") % {"name": org.name})
            return redirect("accounts:dashboard")
    return render(request, "accounts/organisation_form.html", {"form": form})


@login_required
@require_POST
def organisation_switch(request):
    org = selectors.organisations_for_user(user=request.user).filter(pk=request.POST.get("organisation")).first()
    if org is None:
        messages.error(request, _("You are not a member of that organisation."))
    else:
        request.session[SESSION_KEY] = org.pk
    return redirect("accounts:dashboard")


@organisation_required
def members(request):
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.invitation_create(actor=request.user, organisation=request.organisation, **form.cleaned_data)
        except ExchangeError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Invitation sent."))
            return redirect("accounts:members")
    return render(
        request,
        "accounts/members.html",
        {
            "form": form,
            "members": selectors.members_for_org(organisation=request.organisation),
            "invitations": selectors.invitations_for_org(organisation=request.organisation),
        },
    )


@organisation_required
def api_keys(request):
    form = ApiKeyForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            key, plaintext = services.api_key_create(
                actor=request.user, organisation=request.organisation, **form.cleaned_data
            )
        except ExchangeError as exc:
            apply_errors(form, exc)
        else:
            created = {"key": key, "plaintext": plaintext}
            form = ApiKeyForm()
    return render(
        request,
        "accounts/api_keys.html",
        {
            "form": form,
            "created": created,
            "keys": selectors.api_keys_for_org(organisation=request.organisation),
        },
    )


@organisation_required
@require_POST
def api_key_revoke(request, key_id: int):
    try:
        services.api_key_revoke(actor=request.user, organisation=request.organisation, key_id=key_id)
    except ExchangeError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Key revoked."))
    return redirect("accounts:api_keys")
