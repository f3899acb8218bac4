from datetime import timedelta

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.forms import apply_errors
from accounts.permissions import operator_required, provider_required
from accounts.selectors import audit_events, user_is_operator
from catalog import selectors, services
from catalog.capacity import capacity_summary, hour_floor
from catalog.forms import KeyNameForm, PoolForm, ReasonForm
from catalog.models import PoolStatus, Region, ResourceClass
from config.errors import ExchangeError


def catalog_index(request):
    return render(
        request,
        "catalog/index.html",
        {
            "classes": ResourceClass.objects.all(),
            "regions": Region.objects.all(),
        },
    )


def _capacity_next_day(pool):
    start = hour_floor(timezone.now())
    return capacity_summary(pool_ids=[pool.pk], start=start, end=start + timedelta(hours=24))


# --- provider portal --------------------------------------------------------------------------


@provider_required
def pool_list(request):
    pools = selectors.pools_for_org(organisation=request.organisation)
    return render(request, "catalog/pool_list.html", {"pools": pools})


@provider_required
def pool_create(request):
    form = PoolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            pool = services.pool_apply(
                actor=request.user, organisation=request.organisation, descriptor=form.descriptor()
            )
        except ExchangeError as exc:
            apply_errors(form, exc, form.field_map())
        else:
            messages.success(
                request, _("Pool %(code)s applied for connection. The operator will verify it.") % {"code": pool.code}
            )
            return redirect("catalog:pool_detail", pool_id=pool.pk)
    return render(request, "catalog/pool_form.html", {"form": form})


def _own_pool(request, pool_id):
    pool = selectors.pool_get(organisation=request.organisation, pool_id=pool_id)
    if pool is None:
        raise Http404
    return pool


@provider_required
def pool_detail(request, pool_id: int):
    pool = _own_pool(request, pool_id)
    return render(
        request,
        "catalog/pool_detail.html",
        {
            "pool": pool,
            "keys": selectors.pool_keys(pool=pool),
            "heartbeats": selectors.pool_heartbeats(pool=pool)[:20],
            "capacity": _capacity_next_day(pool),
            "new_key": request.session.pop("new_pool_key", None),
            "key_form": KeyNameForm(),
            "reason_form": ReasonForm(),
        },
    )


@provider_required
@require_POST
def pool_key_action(request, pool_id: int, action: str, key_id: int | None = None):
    _own_pool(request, pool_id)
    try:
        if action == "create":
            form = KeyNameForm(request.POST)
            name = form.cleaned_data["name"] if form.is_valid() else ""
            key, plaintext = services.pool_key_create(
                actor=request.user, organisation=request.organisation, pool_id=pool_id, name=name
            )
        elif action == "rotate":
            key, plaintext = services.pool_key_rotate(
                actor=request.user, organisation=request.organisation, pool_id=pool_id, key_id=key_id
            )
        else:
            services.pool_key_revoke(
                actor=request.user, organisation=request.organisation, pool_id=pool_id, key_id=key_id
            )
            messages.success(request, _("Key revoked."))
            return redirect("catalog:pool_detail", pool_id=pool_id)
    except ExchangeError as exc:
        messages.error(request, exc.detail)
        return redirect("catalog:pool_detail", pool_id=pool_id)
    # Shown once on the next page, then gone from the session.
    request.session["new_pool_key"] = {"lookup": key.lookup, "plaintext": plaintext}
    return redirect("catalog:pool_detail", pool_id=pool_id)


@provider_required
@require_POST
def pool_withdraw(request, pool_id: int):
    _own_pool(request, pool_id)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.pool_withdraw(actor=request.user, organisation=request.organisation, pool_id=pool_id, reason=reason)
    except ExchangeError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Pool disconnected."))
    return redirect("catalog:pool_detail", pool_id=pool_id)


# --- operator console -------------------------------------------------------------------------


@operator_required
def operator_overview(request):
    status = request.GET.get("status", "")
    pools = selectors.pools_all()
    if status in PoolStatus.values:
        pools = pools.filter(status=status)
    return render(
        request,
        "catalog/operator_overview.html",
        {
            "awaiting": selectors.pools_awaiting_verification(),
            "pools": pools,
            "status": status,
            "statuses": PoolStatus.choices,
        },
    )


@operator_required
def operator_pool(request, pool_id: int):
    pool = selectors.pool_get(organisation=None, pool_id=pool_id, operator=True)
    if pool is None:
        raise Http404
    return render(
        request,
        "catalog/operator_pool.html",
        {
            "pool": pool,
            "heartbeats": selectors.pool_heartbeats(pool=pool)[:20],
            "capacity": _capacity_next_day(pool),
            "reason_form": ReasonForm(),
            "can_act": user_is_operator(user=request.user, acting=True),
        },
    )


_OPERATOR_ACTIONS = {
    "verify": services.pool_verify,
    "reject": services.pool_reject,
    "suspend": services.pool_suspend,
    "resume": services.pool_resume,
}


@operator_required
@require_POST
def operator_pool_action(request, pool_id: int, action: str):
    service = _OPERATOR_ACTIONS.get(action)
    if service is None:
        raise Http404
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        service(actor=request.user, pool_id=pool_id, reason=reason)
    except ExchangeError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Done: %(action)s.") % {"action": action})
    return redirect("catalog:operator_pool", pool_id=pool_id)


@operator_required
def operator_reference_prices(request):
    rows = selectors.reference_prices()
    regions = list(Region.objects.all())
    table = {}
    for r in rows:
        table.setdefault(r.resource_class, {})[r.region] = r
    matrix = [(cls, [table[cls].get(reg.code) for reg in regions]) for cls in table]
    return render(request, "catalog/operator_reference_prices.html", {"regions": regions, "matrix": matrix})


@operator_required
def operator_audit(request):
    return render(request, "catalog/operator_audit.html", {"events": audit_events()[:200]})
