"""The operator console (统一监管): market overview, supervision of every organisation, the order
log download and the audit log. Pages only: the figures come from each app's selectors, every
change from its services (each audited there)."""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.forms import apply_errors
from accounts.models import AuditEvent, Organisation
from accounts.permissions import operator_required
from accounts.selectors import audit_events, members_for_org, user_is_operator
from accounts.services import SCHEDULING_PRIORITY_MAX, credit_limit_set, scheduling_priority_set
from catalog import selectors
from catalog.fleet import LOCAL, fleet_now, local_day_bounds, ratio, utilisation_by_day
from catalog.models import PoolStatus, Region, ResourceClass, Tier
from config.charts import bar_chart, line_chart
from config.errors import ExchangeError
from marketplace import selectors as market_selectors
from marketplace.market import local_today, market_by_day
from marketplace.models import Instrument
from marketplace.services.log import log_lines
from settlement import selectors as money_selectors
from settlement.services import available_funds
from settlement.services.invoices import period_before, period_of
from settlement.services.reconciliation import differences
from settlement.templatetags.money import grouped, yuan

MARKET_DAYS = 30
UTILISATION_DAYS = 14
KIND_LABELS = {
    ResourceClass.Kind.GPU: gettext_lazy("GPU units"),
    ResourceClass.Kind.NPU: gettext_lazy("NPU units"),
    ResourceClass.Kind.CPU: gettext_lazy("vCPU units"),
}
SERIES_CSS = ["s1", "s2", "s3", "s4", "s5", "s6"]


def percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def _heat(utilisation: Decimal | None) -> str:
    if not utilisation:
        return "h0"
    return f"h{min(4, 1 + int(utilisation * 4))}"


def _fleet_tables(now):
    """One region × tier table per kind of class: installed, committed, utilisation."""
    cells = fleet_now(now=now)
    regions = list(Region.objects.order_by("code"))
    tables = []
    for kind in [k for k in ResourceClass.Kind.values if any(c.kind == k for c in cells)]:
        mine = {(c.region, c.tier): c for c in cells if c.kind == kind}
        rows = []
        for region in regions:
            row = [mine.get((region.code, tier)) for tier in Tier.values]
            if any(row):
                rows.append((region, [(c, _heat(c and c.utilisation), percent(c and c.utilisation)) for c in row]))
        installed = sum(c.installed for c in mine.values())
        committed = sum(c.committed for c in mine.values())
        tables.append(
            {
                "kind": kind,
                "label": KIND_LABELS[kind],
                "rows": rows,
                "installed": installed,
                "committed": committed,
                "utilisation": ratio(committed, installed),
                "percent": percent(ratio(committed, installed)),
            }
        )
    return tables


def _market_charts(today):
    days, per_region = market_by_day(first=today - timedelta(days=MARKET_DAYS - 1), last=today)
    labels = [f"{d.day:%m-%d}" for d in days]
    traded = [(code, series) for code, series in per_region.items() if any(i.trades for i in series)]
    # every region that traded, then all regions together, dashed on top (the same line when one region traded)
    index_series = [
        (code, SERIES_CSS[(i + 1) % len(SERIES_CSS)], [i_.index for i_ in series])
        for i, (code, series) in enumerate(traded)
    ]
    index_series.append((_("All regions"), "s1 dashed", [d.index for d in days]))
    return {
        "days": days,
        "units_chart": bar_chart(
            title=_("Units traded per day"), x_labels=labels, values=[d.units for d in days], y_format=grouped
        ),
        "notional_chart": bar_chart(
            title=_("Notional traded per day (CNY)"),
            x_labels=labels,
            values=[d.notional for d in days],
            css="s2",
            y_format=lambda v: yuan(v, 0),
        ),
        "index_chart": line_chart(
            title=_("SCU price index per day (CNY per SCU)"),
            x_labels=labels,
            series=index_series,
            y_format=lambda v: f"¥{v.quantize(Decimal('0.0001'))}",
        ),
        "index_regions": traded,
    }


def _utilisation_chart(today, now):
    rows = utilisation_by_day(first=today - timedelta(days=UTILISATION_DAYS - 1), last=today, now=now)
    days = sorted({r.day for r in rows})
    kinds = sorted({r.kind for r in rows})
    by = {(r.day, r.kind): r.utilisation for r in rows}
    chart = line_chart(
        title=_("Utilisation per day (committed ÷ installed unit-hours)"),
        x_labels=[f"{d:%m-%d}" for d in days],
        series=[(str(KIND_LABELS[k]), SERIES_CSS[i], [by.get((d, k)) for d in days]) for i, k in enumerate(kinds)],
        y_format=percent,
        y_max=Decimal(1),
    )
    table = [(d, [percent(by.get((d, k))) for k in kinds]) for d in reversed(days)]
    return chart, {"kinds": [KIND_LABELS[k] for k in kinds], "days": table}


def _reconciliation_status(now):
    period = period_before(period_of(now))
    open_ = [check for check, note in differences(period=period, now=now) if note is None]
    return period, len(open_)


@operator_required
def operator_overview(request):
    """The console's landing page: capacity, utilisation, volume, the SCU index, what waits."""
    now = timezone.now()
    today = local_today(now)
    utilisation_chart, utilisation_table = _utilisation_chart(today, now)
    period, open_differences = _reconciliation_status(now)
    context = {
        "awaiting": selectors.pools_awaiting_verification(),
        "suspended_count": selectors.pools_all().filter(status=PoolStatus.SUSPENDED).count(),
        "fleet": _fleet_tables(now),
        "tiers": Tier.choices,
        "utilisation_chart": utilisation_chart,
        "utilisation_table": utilisation_table,
        "period": period,
        "open_differences": open_differences,
        "last_check": money_selectors.ledger_check_last(),
        "now": now,
    }
    context["awaiting_count"] = len(context["awaiting"])
    context.update(_market_charts(today))
    return render(request, "catalog/operator_overview.html", context)


@operator_required
def operator_pools(request):
    status = request.GET.get("status", "")
    pools = selectors.pools_all().order_by("code", "pk")
    if status in PoolStatus.values:
        pools = pools.filter(status=status)
    page = Paginator(pools, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "catalog/operator_pools.html",
        {"page": page, "status": status, "statuses": PoolStatus.choices},
    )


# --- supervision ------------------------------------------------------------------------------


class OrganisationSearch(forms.Form):
    q = forms.CharField(label=gettext_lazy("Name or slug"), required=False, max_length=120)
    role = forms.ChoiceField(
        label=gettext_lazy("Role"),
        required=False,
        choices=[
            ("", gettext_lazy("any")),
            ("buyer", gettext_lazy("Buyers")),
            ("provider", gettext_lazy("Providers")),
            ("platform", gettext_lazy("Platform")),
        ],
    )


@operator_required
def operator_organisations(request):
    """Every organisation with its role flags, money, orders, trades and last activity: a page
    of 50 costs the same few queries whatever is on it."""
    form = OrganisationSearch(request.GET or None)
    organisations = Organisation.objects.order_by("name", "pk")
    if form.is_valid():
        q = form.cleaned_data["q"].strip()
        if q:
            organisations = organisations.filter(Q(name__icontains=q) | Q(slug__icontains=q))
        role = form.cleaned_data["role"]
        if role:
            organisations = organisations.filter(**{f"is_{role}": True})
    page = Paginator(organisations, 50).get_page(request.GET.get("page"))
    ids = [o.pk for o in page]
    activity = market_selectors.activity_by_org(organisation_ids=ids)
    balances = money_selectors.balances_by_org(organisation_ids=ids)
    rows = [(o, activity[o.pk], balances[o.pk]) for o in page]
    return render(request, "catalog/operator_organisations.html", {"form": form, "page": page, "rows": rows})


class CreditLimitForm(forms.Form):
    credit_limit = forms.DecimalField(
        label=gettext_lazy("Credit limit (CNY)"), min_value=0, max_digits=20, decimal_places=2
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 2}), max_length=500)


class SchedulingPriorityForm(forms.Form):
    """The organisation's scheduling priority class (§10): who is served first when supply is short."""

    scheduling_priority = forms.IntegerField(
        label=gettext_lazy("Scheduling priority class (0 normal, higher first)"),
        min_value=0,
        max_value=SCHEDULING_PRIORITY_MAX,
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 2}), max_length=500)


def _setting_apply(request, form, done: str, save) -> bool:
    """An operator's setting posted to the organisation page: ``save(cleaned_data)`` when the
    form is posted and valid; the service's refusal goes onto the form's fields. True when saved."""
    if not form.is_bound or not form.is_valid():
        return False
    try:
        save(form.cleaned_data)
    except ExchangeError as exc:
        apply_errors(form, exc)
        return False
    messages.success(request, done)
    return True


@operator_required
def operator_organisation(request, slug: str):
    """One organisation as the operator supervises it: orders, trades, contracts, reservations,
    money and pools, with its credit limit (set here, audited)."""
    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        raise Http404
    setting_priority = request.method == "POST" and request.POST.get("form") == "priority"
    priority_form = SchedulingPriorityForm(
        request.POST if setting_priority else None, initial={"scheduling_priority": organisation.scheduling_priority}
    )
    form = CreditLimitForm(
        request.POST if request.method == "POST" and not setting_priority else None,
        initial={"credit_limit": organisation.credit_limit},
    )
    done = _setting_apply(
        request, priority_form, _("Scheduling priority class set."),
        lambda data: scheduling_priority_set(actor=request.user, organisation_id=organisation.pk,
                                             priority=data["scheduling_priority"], reason=data["reason"]),
    ) or _setting_apply(
        request, form, _("Credit limit set."),
        lambda data: credit_limit_set(actor=request.user, organisation_id=organisation.pk,
                                      limit=data["credit_limit"], reason=data["reason"]),
    )  # fmt: skip
    if done:
        return redirect("catalog:operator_organisation", slug=slug)
    context = {
        "organisation": organisation,
        "members": members_for_org(organisation=organisation),
        "orders": market_selectors.orders_for_org(organisation=organisation).order_by("-created_at", "-pk")[:50],
        "trades": market_selectors.trades_for_org(organisation=organisation)[:50],
        "contracts": market_selectors.contracts_for_org(organisation=organisation).order_by("-created_at", "-pk")[:50],
        "reservations": market_selectors.reservations_for_org(organisation=organisation).order_by("-pk")[:50],
        "funds": available_funds(organisation=organisation),
        "accounts": money_selectors.accounts_for_org(organisation=organisation),
        "holds": money_selectors.holds_for_org(organisation=organisation).open()[:20],
        "pools": selectors.pools_for_org(organisation=organisation),
        "events": audit_events(organisation=organisation)[:20],
        "form": form,
        "priority_form": priority_form,
        "can_act": user_is_operator(user=request.user, acting=True),
    }
    return render(
        request, "catalog/operator_organisation.html", context, status=400 if request.method == "POST" else 200
    )


class OrderLogForm(forms.Form):
    instrument = forms.CharField(
        label=gettext_lazy("Instrument code"),
        max_length=60,
        help_text=gettext_lazy("e.g. H100-80G.YRD.MAIN.20261207.W"),
    )

    def clean_instrument(self):
        code = self.cleaned_data["instrument"].strip()
        instrument = Instrument.objects.filter(code=code).first()
        if instrument is None:
            raise forms.ValidationError(_("No instrument with this code."), code="not_found")
        return instrument


@operator_required
def operator_order_log(request):
    """An instrument's order log (trading standard §9) as JSON Lines: the bytes ``manage.py
    export_order_log INSTRUMENT`` writes, streamed."""
    form = OrderLogForm(request.GET or None)
    if form.is_valid():
        instrument = form.cleaned_data["instrument"]
        response = StreamingHttpResponse(log_lines(instrument=instrument), content_type="application/x-ndjson")
        response["Content-Disposition"] = f'attachment; filename="{instrument.code}.order-log.jsonl"'
        return response
    recent = Instrument.objects.order_by("-listed_at", "code")[:20]
    return render(
        request,
        "catalog/operator_order_log.html",
        {"form": form, "recent": recent},
        status=400 if form.is_bound else 200,
    )


# --- the audit log ----------------------------------------------------------------------------


class AuditFilter(forms.Form):
    actor = forms.CharField(label=gettext_lazy("Who (e-mail)"), required=False, max_length=120)
    action = forms.CharField(
        label=gettext_lazy("Action"),
        required=False,
        max_length=60,
        widget=forms.TextInput(attrs={"list": "audit-actions"}),
        help_text=gettext_lazy("e.g. pool.verify, or pool. for every pool action"),
    )
    organisation = forms.CharField(label=gettext_lazy("Organisation (slug)"), required=False, max_length=60)
    date_from = forms.DateField(
        label=gettext_lazy("From (date)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=gettext_lazy("To (date, inclusive)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end is before the start."))
        return data


def audit_filtered(data: dict):
    events = audit_events()
    if data.get("actor"):
        events = events.filter(actor_label__icontains=data["actor"].strip())
    if data.get("action"):
        action = data["action"].strip()
        events = events.filter(action__startswith=action) if action.endswith(".") else events.filter(action=action)
    if data.get("organisation"):
        events = events.filter(organisation__slug=data["organisation"].strip())
    if data.get("date_from"):
        events = events.filter(at__gte=local_day_bounds(data["date_from"])[0])
    if data.get("date_to"):
        events = events.filter(at__lt=local_day_bounds(data["date_to"])[1])
    return events


@operator_required
def operator_audit(request):
    """Every operator action and key change, newest first, filtered by actor, action,
    organisation and local date; a filter that does not parse is shown at its field and
    nothing is listed."""
    form = AuditFilter(request.GET or None)
    if form.is_bound and not form.is_valid():
        events = AuditEvent.objects.none()
    else:
        events = audit_filtered(form.cleaned_data if form.is_bound else {})
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
    return render(
        request,
        "catalog/operator_audit.html",
        {"form": form, "page": page, "actions": list(actions), "tz": LOCAL},
        status=400 if form.is_bound and form.errors else 200,
    )
