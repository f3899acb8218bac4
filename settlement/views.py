import uuid
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.forms import apply_errors
from accounts.models import Organisation
from accounts.permissions import operator_required, organisation_required
from config.charts import stacked_bars
from config.errors import ExchangeError
from settlement import selectors, services
from settlement.forms import AdjustmentForm, BankTransferForm, CardTopUpForm, PayoutForm, UsageMonthForm
from settlement.models import CardPayment
from settlement.pdf import invoice_pdf
from settlement.services.invoices import period_before, period_bounds, period_of
from settlement.templatetags.money import yuan


def _statement(request, organisation):
    page = Paginator(selectors.postings_for_org(organisation=organisation), 50).get_page(request.GET.get("page"))
    return {
        "funds": services.available_funds(organisation=organisation),
        "accounts": selectors.accounts_for_org(organisation=organisation),
        "holds": selectors.holds_for_org(organisation=organisation).open()[:50],
        "page": page,
        "own_statement": organisation == request.organisation,  # its batch lines link to its fills
    }


@organisation_required
def funds(request):
    card_form = CardTopUpForm(request.POST or None) if _card_test_mode() else None
    if request.method == "POST" and card_form is not None and card_form.is_valid():
        key = request.POST.get("idempotency_key") or uuid.uuid4().hex
        try:
            payment = services.card_topup_create(
                actor=request.user,
                organisation=request.organisation,
                request_key=f"web:{request.organisation.pk}:{key}",
                **card_form.cleaned_data,
            )
        except ExchangeError as exc:
            apply_errors(card_form, exc)
        else:
            if payment.status == "succeeded":
                messages.success(request, _("Card payment received: %(amount)s.") % {"amount": yuan(payment.amount)})
            else:
                messages.warning(
                    request,
                    _("Card payment %(status)s. %(error)s")
                    % {"status": payment.get_status_display(), "error": payment.error},
                )
            return redirect("settlement:funds")
    context = _statement(request, request.organisation)
    context.update(
        {
            "bank_reference": services.bank_reference_for(organisation=request.organisation),
            "bank_instructions": _(settings.SUANLI_BANK_INSTRUCTIONS),  # the default is in the catalogue
            "card_form": card_form,
            "card_payments": CardPayment.objects.for_org(request.organisation)[:10],
            "form_key": uuid.uuid4().hex,
        }
    )
    return render(request, "settlement/funds.html", context)


def _card_test_mode() -> bool:
    return settings.STRIPE_SECRET_KEY.startswith("sk_test")


@operator_required
def operator_money(request):
    forms = {
        "bank": BankTransferForm(prefix="bank"),
        "adjust": AdjustmentForm(prefix="adjust"),
        "payout": PayoutForm(prefix="payout"),
    }
    if request.method == "POST":
        which = request.POST.get("form")
        form = {"bank": BankTransferForm, "adjust": AdjustmentForm, "payout": PayoutForm}.get(which)
        if form is not None:
            forms[which] = bound = form(request.POST, prefix=which)
            if bound.is_valid() and _operator_post(request, which, bound):
                return redirect("settlement:operator_money")
    return render(
        request,
        "settlement/operator_money.html",
        {
            "forms": forms,
            "last_check": selectors.ledger_check_last(),
            "payables": selectors.provider_payables(),
            "organisations": Organisation.objects.order_by("name"),
            # A fresh key per rendering: a double submit of one form posts once.
            "form_key": uuid.uuid4().hex,
        },
    )


def _operator_post(request, which, form) -> bool:
    data = form.cleaned_data
    key = request.POST.get("idempotency_key") or uuid.uuid4().hex
    try:
        if which == "bank":
            txn = services.bank_transfer_record(actor=request.user, **data)
            done = _(
                "Bank transfer %(id)s: %(amount)s to the prepaid funds of reference %(reference)s. "
                "Unpaid invoices are collected from them within the hour."
            )
        else:
            org = Organisation.objects.filter(slug=data["organisation"]).first()
            if org is None:
                form.add_error("organisation", _("No organisation with this slug."))
                return False
            if which == "adjust":
                done = _("Adjustment of %(amount)s posted to %(organisation)s.")
                txn = services.adjustment_post(
                    actor=request.user,
                    idempotency_key=f"web:{key}",
                    organisation=org,
                    purpose=data["purpose"],
                    amount=data["amount"],
                    reason=data["reason"],
                )
            else:
                done = _("Payout %(id)s: %(amount)s paid out of %(organisation)s's payable.")
                txn = services.payout_record(
                    actor=request.user,
                    organisation=org,
                    amount=data["amount"],
                    bank_transaction_id=data["bank_transaction_id"],
                )
    except ExchangeError as exc:
        apply_errors(form, exc)
        return False
    if not txn.posted_now:  # the same bank transaction id (or a double submit) again
        messages.info(request, _("Already recorded: nothing was posted again."))
        return True
    facts = {"id": data.get("bank_transaction_id", ""), "amount": yuan(data["amount"]),
             "reference": data.get("reference", ""), "organisation": data.get("organisation", "")}  # fmt: skip
    messages.success(request, done % facts)
    return True


@operator_required
@require_POST
def operator_ledger_check(request):
    report = services.ledger_check(actor=request.user)
    if report["ok"]:
        messages.success(request, _("The ledger is consistent."))
    else:
        messages.error(request, _("The ledger is NOT consistent: see the report."))
    return redirect("settlement:operator_money")


@operator_required
def operator_ledger(request, slug: str):
    organisation = get_object_or_404(Organisation, slug=slug)
    context = _statement(request, organisation)
    context["organisation"] = organisation
    return render(request, "settlement/operator_ledger.html", context)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's webhook: 200 once the event is recorded (or was already), 400 if unsigned."""
    try:
        event = services.webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except ExchangeError as exc:
        return JsonResponse({"code": exc.code, "detail": exc.detail, "fields": {}}, status=400)
    return JsonResponse({"received": event.event_id, "outcome": event.outcome})


@organisation_required
def invoices(request):
    """The organisation's invoices and credit notes: this month's draft, issued ones, what is due."""
    now = timezone.now()
    rows = selectors.invoices_for_org(organisation=request.organisation)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "settlement/invoices.html", {"page": page, "now": now, "current": period_of(now)})


@organisation_required
def invoice_detail(request, invoice_id: int):
    invoice = get_object_or_404(selectors.invoices_for_org(organisation=request.organisation), pk=invoice_id)
    context = {"invoice": invoice, "lines": invoice.lines.select_related("provider"), "now": timezone.now()}
    if invoice.status == "issued" and invoice.due > 0:
        context["bank_reference"] = services.bank_reference_for(organisation=request.organisation)
        context["cash"] = services.account_for(purpose="buyer_cash", organisation=request.organisation).balance
    return render(request, "settlement/invoice_detail.html", context)


@organisation_required
@require_POST
def invoice_pay(request, invoice_id: int):
    """Pay what is due from prepaid funds now, rather than at the next hourly collection."""
    invoice = get_object_or_404(selectors.invoices_for_org(organisation=request.organisation), pk=invoice_id)
    try:
        paid = services.invoice_pay(actor=request.user, organisation=request.organisation, invoice_id=invoice.pk)
    except ExchangeError as exc:
        messages.error(request, exc.detail)
    else:
        invoice.refresh_from_db()
        if paid:
            messages.success(request, _("Paid %(paid)s from prepaid funds; %(due)s left to pay.")
                             % {"paid": yuan(paid), "due": yuan(invoice.due)})  # fmt: skip
        else:
            messages.warning(request, _("Nothing paid: your prepaid funds do not cover any of it. Add funds first."))
    return redirect("settlement:invoice_detail", invoice_id=invoice.pk)


@organisation_required
def invoice_download(request, invoice_id: int):
    invoice = get_object_or_404(selectors.invoices_for_org(organisation=request.organisation), pk=invoice_id)
    name = invoice.number or f"draft-{invoice.period:%Y-%m}"
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response


@organisation_required
def usage(request):
    """The organisation's metered usage in a month, by local day and time-of-use period, with the
    month's charges so far. ``?month=YYYY-MM`` (local time), this month without it."""
    this_month = period_of(timezone.now())
    form = UsageMonthForm(request.GET or None, initial={"month": this_month})
    if request.GET and not form.is_valid():
        context = {"form": form, "period": None, "this_month": this_month}
        return render(request, "settlement/usage.html", context, status=400)
    period = (form.cleaned_data.get("month") if request.GET else None) or this_month
    month = selectors.usage_month(organisation=request.organisation, period=period)
    labels = [("peak", _("Peak")), ("flat", _("Flat")), ("valley", _("Valley"))]
    chart = stacked_bars(
        categories=[(f"{d.day:%m-%d}", str(d.day.day) if d.day.day == 1 or d.day.day % 5 == 0 else "", d.hours)
                    for d in month.days],
        series=selectors.TOU_KINDS,
    )  # fmt: skip
    charges = selectors.charges_so_far(organisation=request.organisation, period=period)
    context = {
        "form": form,
        "period": period,
        "this_month": this_month,
        "month": month,
        "used_days": [d for d in month.days if d.total],
        "chart": chart,
        "labels": labels,
        "charges": charges,
        "volume_charges": list(zip((label for _, label in labels), charges.volume_by_kind, strict=True)),
        "previous": period_before(period),
        "next": None if period >= this_month else period_of(period_bounds(period)[1]),
    }
    return render(request, "settlement/usage.html", context)


@organisation_required
def statements(request):
    """A provider's monthly statements: gross, commission, trade fees, charge-backs, net."""
    rows = selectors.statements_for_org(organisation=request.organisation)
    payable = services.account_for(purpose="provider_payable", organisation=request.organisation)
    page = Paginator(rows, 24).get_page(request.GET.get("page"))
    payouts = selectors.payouts_for_org(organisation=request.organisation)[:24]
    return render(request, "settlement/statements.html", {"page": page, "payable": payable, "payouts": payouts})


@organisation_required
def statement_detail(request, statement_id: int):
    statement = get_object_or_404(selectors.statements_for_org(organisation=request.organisation), pk=statement_id)
    lines = selectors.statement_lines(statement=statement)
    return render(request, "settlement/statement_detail.html", {"statement": statement, "lines": lines})


def _period_arg(request):
    from settlement.services.invoices import period_before, period_parse

    raw = request.GET.get("period") or request.POST.get("period")
    return period_parse(raw) if raw else period_before(period_of(timezone.now()))


@operator_required
def operator_reconciliation(request):
    """A period's reconciliation: every check per buyer and provider, the differences with their
    cause and resolution, explanations, closing, CSV."""
    from settlement.models import ReconciliationClose
    from settlement.services import reconciliation

    try:
        period = _period_arg(request)
    except ExchangeError as exc:
        messages.error(request, exc.detail)
        return redirect("settlement:operator_reconciliation")
    if request.method == "POST":
        try:
            if request.POST.get("action") == "close":
                reconciliation.period_close(actor=request.user, period=period)
                messages.success(request, _("Period closed."))
            else:
                reconciliation.difference_explain(
                    actor=request.user,
                    period=period,
                    key=request.POST.get("key", ""),
                    difference=Decimal(request.POST.get("difference", "0")),
                    reason=request.POST.get("reason", ""),
                )
                messages.success(request, _("Explanation recorded."))
        except ExchangeError as exc:
            messages.error(request, exc.detail)
        except InvalidOperation:
            messages.error(request, _("Invalid difference."))
        return redirect(f"{request.path}?period={period:%Y-%m}")
    notes = {(n.key, n.difference): n for n in reconciliation.ReconciliationNote.objects.filter(period=period)}
    rows = [
        (c, notes.get((c.key, c.difference)) if c.difference else None) for c in reconciliation.reconcile(period=period)
    ]
    return render(
        request,
        "settlement/operator_reconciliation.html",
        {
            "period": period,
            "rows": rows,
            "open_count": sum(1 for c, note in rows if c.difference and note is None),
            "ended": period_bounds(period)[1] <= timezone.now(),
            "closed": ReconciliationClose.objects.filter(period=period).first(),
        },
    )


@operator_required
def operator_reconciliation_csv(request):
    from settlement.services import reconciliation

    try:
        period = _period_arg(request)
    except ExchangeError as exc:
        return HttpResponse(exc.detail, status=400, content_type="text/plain")
    response = HttpResponse(reconciliation.reconciliation_csv(period=period), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="reconciliation-{period:%Y-%m}.csv"'
    return response


@operator_required
def operator_invoice_cases(request, invoice_id: int):
    """An invoice's charges as rating cases (Appendix A), to re-rate with ``manage.py rate``."""
    from settlement.models import Invoice
    from settlement.services.rating_cases import invoice_cases_json

    invoice = get_object_or_404(Invoice, pk=invoice_id, kind="invoice")
    response = JsonResponse(invoice_cases_json(invoice), json_dumps_params={"indent": 1, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="{invoice.number or invoice.pk}-rating-cases.json"'
    return response
