from datetime import timedelta

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.permissions import operator_required, provider_required
from accounts.selectors import user_is_operator
from catalog import selectors, services
from catalog.capacity import capacity_by_hour, capacity_summary, hour_floor
from catalog.forms import KeyNameForm, PoolForm, ReasonForm
from catalog.models import Health, Region, ResourceClass
from config.charts import line_chart, time_chart
from config.errors import ExchangeError
from marketplace import selectors as market_selectors
from settlement.templatetags.money import grouped


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


HEARTBEAT_RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
CAPACITY_HOURS = 72
HEALTH_CSS = {Health.OK: "ok", Health.DEGRADED: "degraded", Health.DOWN: "down"}
CLASS_CSS = ["s1", "s2", "s3", "s4", "s5", "s6"]


def _local(moment):
    return timezone.localtime(moment)


def pool_charts(pool, *, heartbeat_range: str, now=None) -> dict:
    """The pool's heartbeats over the last 24 h or 7 d (available units per class, and the
    health each reported until the next one) and its capacity per hour for the next three
    days (installed / committed / offered / sellable per class), as server-drawn charts."""
    now = now or timezone.now()
    since = now - HEARTBEAT_RANGES[heartbeat_range]
    beats = selectors.pool_heartbeat_timeline(pool=pool, start=since, end=now)
    classes = sorted({cls for _, _, available in beats for cls in available})
    bands = []
    for i, (ts, health, _available) in enumerate(beats):
        until = beats[i + 1][0] if i + 1 < len(beats) else now
        if bands and bands[-1][2] == HEALTH_CSS[health] and bands[-1][1] == ts:
            bands[-1] = (bands[-1][0], until, bands[-1][2], bands[-1][3])
        else:
            bands.append((ts, until, HEALTH_CSS[health], f"{_local(ts):%m-%d %H:%M} {Health(health).label}"))
    tick_step = timedelta(hours=4) if heartbeat_range == "24h" else timedelta(days=1)
    first_tick = hour_floor(since) + timedelta(hours=1)
    ticks, t = [], first_tick
    while t < now:
        ticks.append((t, f"{_local(t):%H:%M}" if heartbeat_range == "24h" else f"{_local(t):%m-%d}"))
        t += tick_step
    heartbeat_chart = time_chart(
        title=_("Heartbeats: available units and health"),
        start=since,
        end=now,
        series=[
            (cls, CLASS_CSS[i % len(CLASS_CSS)], [(ts, a[cls]) for ts, _, a in beats if cls in a])
            for i, cls in enumerate(classes)
        ],
        bands=bands,
        x_ticks=ticks,
        time_label=lambda m: f"{_local(m):%m-%d %H:%M}",
        y_format=grouped,
    )
    start = hour_floor(now)
    hours = capacity_by_hour(pool_ids=[pool.pk], start=start, end=start + timedelta(hours=CAPACITY_HOURS))
    capacity_charts = []
    for cls in sorted({h.resource_class for h in hours}):
        rows = [h for h in hours if h.resource_class == cls]
        labels = [f"{_local(h.hour):%m-%d %H}h" for h in rows]
        capacity_charts.append(
            (
                cls,
                line_chart(
                    title=_("Capacity of %(cls)s per hour, next three days") % {"cls": cls},
                    x_labels=labels,
                    series=[  # installed last, dashed, on top of what it bounds
                        (_("committed"), "s5", [h.committed for h in rows]),
                        (_("offered"), "s3", [h.offered for h in rows]),
                        (_("sellable"), "s2", [h.sellable for h in rows]),
                        (_("installed"), "s6 dashed", [h.installed for h in rows]),
                    ],
                    y_format=grouped,
                ),
                rows,
            )
        )
    return {
        "heartbeat_chart": heartbeat_chart,
        "heartbeat_range": heartbeat_range,
        "heartbeat_count": len(beats),
        "health_legend": [(css, Health(h).label) for h, css in HEALTH_CSS.items()],
        "capacity_charts": capacity_charts,
    }


def _heartbeat_range(request) -> str:
    value = request.GET.get("range", "24h")
    return value if value in HEARTBEAT_RANGES else "24h"


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
            form.apply_descriptor_errors(exc)
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
            **pool_charts(pool, heartbeat_range=_heartbeat_range(request)),
            "listings": market_selectors.listings_for_pool(pool_id=pool.pk)[:50],
            "asks": market_selectors.asks_for_pool(pool_id=pool.pk)[:100],
            "fills": market_selectors.fills_for_pool(pool_id=pool.pk)[:50],
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
def operator_pool(request, pool_id: int):
    pool = selectors.pool_get(organisation=None, pool_id=pool_id, operator=True)
    if pool is None:
        raise Http404
    return render(
        request,
        "catalog/operator_pool.html",
        {
            **pool_charts(pool, heartbeat_range=_heartbeat_range(request)),
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
