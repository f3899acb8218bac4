"""The shelf (货架) and the product pages. Browsing is public, as on a real exchange's market
pages: a visitor sees every product, its book, tape and listings; ordering, quoting and reserving
need a signed-in member of an organisation. Every write goes through ``marketplace.services``
(through the instrument page's order ticket and the listing page's reservation flow)."""

import uuid

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import get_language

from catalog.models import Region, ResourceClass, Tier
from marketplace.forms import CITY_NAMES, ShelfForm
from marketplace.retail_views import listing_tariff, reservation_flow
from marketplace.shelf.rules import CITIES, DEFAULT_CITY, ProductKey, shelf_select
from marketplace.shelf.selectors import product_instruments, product_listings, shelf_cards
from marketplace.views import instrument_context, order_ticket


def _default_city(request) -> str:
    """The buyer's own city core when its organisation records one (``Organisation.city``), else
    Beijing."""
    city = getattr(request.organisation, "city", "")
    return city if city in CITIES else DEFAULT_CITY


def shelf(request):
    form = ShelfForm(request.GET or None)
    city = form.chosen_city() or _default_city(request)
    cards = shelf_cards(city=city, language=get_language() or "en")
    chosen = shelf_select(cards, form.criteria())
    return render(
        request,
        "marketplace/shelf.html",
        {
            "form": form,
            "cards": chosen,
            "total": len(cards),
            "city_name": CITY_NAMES[city],
            "city_query": urlencode({"city": city}),
        },
    )


def _product_key(product: str) -> ProductKey:
    key = ProductKey.parse(product)
    if key is None or key.tier not in Tier.values:
        raise Http404
    if not (ResourceClass.objects.filter(code=key.resource_class).exists() and
            Region.objects.filter(code=key.region).exists()):  # fmt: skip
        raise Http404
    return key


def _may_write(request):
    """None if the visitor may order; else where to send them (sign in, or make an organisation)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if request.organisation is None:
        return redirect("accounts:organisation_create")
    return None


def product(request, product: str):
    """A product's page: wholesale, its instruments and the chosen one's book, charts, tape and
    order ticket; retail, its listings and the chosen one's reservation form with the quote."""
    key = _product_key(product)
    asked = request.GET.get("city")
    city = asked if asked in CITIES else _default_city(request)
    keep = {"city": city} if asked in CITIES else {}  # the links and forms keep a city asked for
    cards = shelf_cards(city=city, language=get_language() or "en", key=key)
    context = {"key": key, "card": cards[0] if cards else None, "tier": Tier(key.tier).label,
               "city_name": CITY_NAMES[city], "shelf_url": reverse("marketplace:shelf"),
               "city_query": urlencode(keep)}  # fmt: skip
    if request.method == "POST" and (refusal := _may_write(request)) is not None:
        return refusal
    if key.mode == "wholesale":
        instruments = list(product_instruments(key=key))
        code = request.GET.get("instrument")
        chosen = next((i for i in instruments if i.code == code), instruments[0] if instruments else None)
        context["instruments"] = instruments
        if chosen is not None:
            here = f"{request.path}?{urlencode({'instrument': chosen.code, **keep})}"
            form, done = order_ticket(request, chosen, done_url=here)
            if done is not None:
                return done
            context |= instrument_context(request, chosen, form=form) | {"form_action": here}
        return render(request, "marketplace/product_wholesale.html", context)
    listings = product_listings(key=key)
    wanted = request.GET.get("listing")
    chosen = next((lst for lst in listings if str(lst.pk) == wanted), listings[0] if listings else None)
    context["listings"] = listings
    if chosen is not None:
        form, quote, done = reservation_flow(request, chosen)
        if done is not None:
            return done
        context |= {"listing": chosen, "form": form, "quote": quote, "tariff": listing_tariff(chosen),
                    "form_key": uuid.uuid4().hex,
                    "form_action": f"{request.path}?{urlencode({'listing': chosen.pk, **keep})}"}  # fmt: skip
    return render(request, "marketplace/product_retail.html", context)
