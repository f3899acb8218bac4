"""The storefront: the market, an instrument's page (book, charts, order entry, own orders, live
updates), my orders and my contracts. Every write goes through ``marketplace.services``."""

import uuid
from decimal import ROUND_HALF_UP, Decimal
from itertools import groupby, zip_longest

from django.contrib import messages
from django.core.handlers.asgi import ASGIRequest
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.forms import apply_errors
from accounts.permissions import organisation_required
from config.errors import ExchangeError
from marketplace import charts, live, market, selectors, services
from marketplace.forms import FillFilterForm, MarketFilterForm, OrderFilterForm, OrderForm
from marketplace.models import Instrument, Side
from settlement.templatetags.money import yuan

OWN_ORDERS = 50
PRICE_PLACES = Decimal("0.0001")


@organisation_required
def market_index(request):
    form = MarketFilterForm(request.GET or None)
    instruments = market.instruments_quoted(trading=True, **form.criteria())
    products = [
        {"key": key, "instruments": list(rows)}
        for key, rows in groupby(instruments, key=lambda i: (i.resource_class_id, i.region_id, i.tier))
    ]
    return render(request, "marketplace/index.html", {"form": form, "products": products})


def _instrument_or_404(code: str) -> Instrument:
    instrument = market.instrument_quoted(code=code)
    if instrument is None:
        raise Http404
    return instrument


def _own_orders(request, instrument):
    if request.organisation is None:
        return []
    return selectors.orders_for_org(organisation=request.organisation).filter(instrument=instrument)[:OWN_ORDERS]


def order_ticket(request, instrument, *, done_url: str):
    """The order form of an instrument (the instrument page's and a product page's): on a valid
    POST the order goes to ``order_place`` and the answer is a redirect to ``done_url``; else
    the form (bound, with the service's refusals next to its fields) and None."""
    org = request.organisation
    side = "sell" if org is not None and org.is_provider and not org.is_buyer else "buy"
    form = OrderForm(request.POST or None, tick=instrument.tick, initial={"side": side, "type": "limit", "tif": "GTC"})
    if request.method == "POST" and form.is_valid():
        key = request.POST.get("idempotency_key") or uuid.uuid4().hex
        try:
            order = services.order_place(
                actor=request.user,
                organisation=org,
                terms=form.terms(instrument=instrument.code),
                idempotency_key=f"web:{key}",
            )
        except ExchangeError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("Order #%(id)s accepted (%(side)s %(qty)s): it is being matched.")
                % {"id": order.pk, "side": order.get_side_display(), "qty": order.qty},
            )
            return form, redirect(done_url)
    return form, None


def instrument_context(request, instrument, *, form) -> dict:
    """What the instrument panel (templates/marketplace/_instrument_panel.html) draws: facts,
    the book and the tape, both charts drawn on the server, the order form and the live URL."""
    live, depth, bars = _live_data(request, instrument)
    return {
        "instrument": instrument,
        "band": market.instrument_band(instrument),
        "live": live,
        "book": list(zip_longest(live["depth"]["bids"], live["depth"]["asks"])),
        "depth_chart": charts.depth_chart(bids=depth.bids, asks=depth.asks),
        "price_chart": charts.price_chart(bars=bars),
        "form": form,
        # a fresh key per rendering: a double submit of one form places one order
        "form_key": uuid.uuid4().hex,
        "live_url": reverse("marketplace:instrument_live", kwargs={"code": instrument.code}),
    }


@organisation_required
def instrument_detail(request, code: str):
    instrument = _instrument_or_404(code)
    form, done = order_ticket(
        request, instrument, done_url=reverse("marketplace:instrument_detail", kwargs={"code": instrument.code})
    )
    if done is not None:
        return done
    return render(request, "marketplace/instrument.html", instrument_context(request, instrument, form=form))


def _price(value) -> str | None:
    """A price as the API writes it, 4 decimals (SQLite returns annotated decimals unscaled)."""
    return None if value is None else f"{value:.4f}"


def _live_data(request, instrument):
    """What the instrument page draws and its poll redraws: book, tape, hourly bars, and the
    organisation's own orders (none for a visitor); with the depth and the bars as read."""
    depth = market.instrument_depth(instrument=instrument)
    bars = market.instrument_ohlcv(instrument=instrument, interval="1h")[-72:]

    def levels(rows):
        return [{"price": str(r.price), "qty": r.qty, "orders": r.orders, "cumulative": r.cumulative} for r in rows]

    return {
        "instrument": instrument.code,
        "best_bid": _price(instrument.best_bid),
        "best_ask": _price(instrument.best_ask),
        "last": _price(instrument.last),
        "depth": {"bids": levels(depth.bids), "asks": levels(depth.asks)},
        "trades": [
            {"number": t["number"], "price": str(t["price"]), "qty": t["qty"],
             "executed_at": timezone.localtime(t["executed_at"])}
            for t in market.trades_last(instrument=instrument, limit=20)
        ],
        "bars": [
            {"start": b.start, "open": str(b.open), "high": str(b.high), "low": str(b.low),
             "close": str(b.close), "volume": b.volume}
            for b in bars
        ],
        "orders": [
            {"id": o.pk, "side": o.side, "side_display": o.get_side_display(), "type": o.type,
             "price": _price(o.price), "qty": o.qty,
             "filled_qty": o.filled_qty, "status": o.status, "status_display": o.get_status_display(),
             "tif": o.tif, "created_at": timezone.localtime(o.created_at), "cancellable": o.cancellable}
            for o in _own_orders(request, instrument)
        ],
    }, depth, bars  # fmt: skip


def instrument_live(request, code: str):
    """The instrument page's feed (fetched on each pushed change, else every 2 s): the same data
    the page was drawn from. Public market data, as the shelf is; the own orders only for a
    signed-in organisation."""
    return JsonResponse(_live_data(request, _instrument_or_404(code))[0])


def live_events(request):
    """Server-sent events for an open page (marketplace/live.py): the changes of the instrument
    ``?market=CODE`` and, for a signed-in organisation, of its orders. 204 where no stream can be
    served (no Redis, or WSGI with fixed threads): the browser then stops asking, and the page
    polls."""
    channels = []
    code = request.GET.get("market", "")
    if code:
        instrument = market.instrument_quoted(code=code)
        if instrument is None:
            detail = _("No such instrument.")
            return JsonResponse({"code": "unknown_instrument", "detail": detail,
                                 "fields": {"market": [{"code": "unknown_instrument", "detail": detail}]}},
                                status=404)  # fmt: skip
        channels.append(live.market_channel(instrument.pk))
    if request.user.is_authenticated and request.organisation is not None:
        channels.append(live.organisation_channel(request.organisation.pk))
    if not channels:
        return JsonResponse({"code": "nothing_to_follow", "detail": _("Name an instrument, or sign in.")}, status=400)
    events = live.stream(channels, asgi=isinstance(request, ASGIRequest))
    if events is None:
        return HttpResponse(status=204)
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy in front must pass each event on at once
    return response


@organisation_required
@require_POST
def order_cancel(request, order_id: int):
    try:
        order = services.order_cancel(actor=request.user, organisation=request.organisation, order_id=order_id)
    except ExchangeError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Cancellation of order #%(id)s requested.") % {"id": order.pk})
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("marketplace:orders")
    return redirect(target)


ORDERS_PAGE = 50
RECENT_FILLS = 10


def _orders_page(request, criteria: dict):
    rows = selectors.orders_for_org(
        organisation=request.organisation,
        status=criteria.get("status") or None,
        instrument=(criteria.get("instrument") or "").strip() or None,
    )
    return Paginator(rows, ORDERS_PAGE).get_page(request.GET.get("page"))


@organisation_required
def orders(request):
    form = OrderFilterForm(request.GET or None)
    criteria = form.cleaned_data if form.is_valid() else {}
    page = _orders_page(request, criteria)
    fills = selectors.fills_for_org(organisation=request.organisation)[:RECENT_FILLS]
    live_url = reverse("marketplace:orders_live")
    if request.GET:
        live_url += "?" + request.GET.urlencode()
    context = {"form": form, "page": page, "fills": fills, "live_url": live_url}
    return render(request, "marketplace/orders.html", context)


def _order_row(o) -> dict:
    """An order as the orders page shows it; amounts as strings, never floats."""
    average = o.average_price
    return {
        "id": o.pk,
        "status": o.status,
        "status_display": o.get_status_display(),
        "end_reason_display": o.end_reason_display if o.end_reason else "",
        "qty": o.qty,
        "filled_qty": o.filled_qty,
        "price": _price(o.price),
        "average_price": None if average is None else f"{average.quantize(PRICE_PLACES, ROUND_HALF_UP)}",
        "average_price_display": yuan(average, 4) if average is not None else "—",
        "cancellable": o.cancellable,
    }


@organisation_required
def orders_live(request):
    """The orders page's feed (fetched on each pushed change, else every 2 s): the state of the
    orders on the page it was drawn with (same filter and page number) and the organisation's
    latest fills. Only its own."""
    form = OrderFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        fields = {
            name: [{"code": e["code"] or "invalid", "detail": e["message"]} for e in errors]
            for name, errors in form.errors.get_json_data().items()
        }
        return JsonResponse({"code": "invalid", "detail": _("Check the filter."), "fields": fields}, status=400)
    page = _orders_page(request, form.cleaned_data if request.GET else {})
    fills = selectors.fills_for_org(organisation=request.organisation)[:RECENT_FILLS]
    return JsonResponse(
        {
            "orders": [_order_row(o) for o in page],
            "fills": [
                {
                    "instrument": t.instrument.code,
                    "number": t.number,
                    "side": t.own_side,
                    "side_display": str(Side(t.own_side).label),
                    "price": _price(t.price),
                    "price_display": yuan(t.price, 4),
                    "qty": t.qty,
                    "order": t.own_order_id,
                    "executed_at": f"{timezone.localtime(t.executed_at):%Y-%m-%d %H:%M:%S}",
                }
                for t in fills
            ],
        }
    )


FILLS_PAGE = 50


@organisation_required
def fills(request):
    """Every fill of the organisation, latest first; by instrument, or by the matching batch a
    statement-of-account line names (its trades settled together)."""
    form = FillFilterForm(request.GET or None)
    criteria = form.cleaned_data if form.is_valid() else {}
    rows = selectors.fills_for_org(organisation=request.organisation, instrument=criteria.get("instrument") or None,
                                   batch=criteria.get("batch") or None)  # fmt: skip
    if form.errors:  # a bad filter shows what is wrong, not every fill
        rows = rows.none()
    page = Paginator(rows, FILLS_PAGE).get_page(request.GET.get("page"))
    return render(request, "marketplace/fills.html", {"form": form, "page": page})


@organisation_required
def contracts(request):
    rows = selectors.contracts_for_org(organisation=request.organisation)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "marketplace/contracts.html", {"page": page})
