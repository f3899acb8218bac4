from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from accounts.models import CityCore
from catalog.models import Region, ResourceClass, Tier
from marketplace.models import Billing, OrderStatus, OrderType, ReservationStatus, Side, TimeInForce, WindowKind
from marketplace.selectors import MATCH_BATCH
from marketplace.services import ListingTerms, OrderTerms, ReservationTerms
from marketplace.shelf.rules import Criteria

CITY_NAMES = dict(CityCore.choices)
TRADE_MODE_CHOICES = [("wholesale", _("Wholesale (批发)")), ("retail", _("Retail (零售)"))]
SORT_CHOICES = [
    ("", _("Product")),
    ("price", _("Price, lowest first")),
    ("scu_price", _("Price per SCU, lowest first")),
    ("latency", _("Latency, lowest first")),
    ("green", _("Green power, highest first")),
    ("availability", _("Availability, most first")),
]


def _region_name() -> str:
    """The column that names a region in the visitor's language."""
    return "name_zh" if (get_language() or "").startswith("zh") else "name_en"


def _any(choices):
    return [("", _("Any")), *choices]


class MarketFilterForm(forms.Form):
    resource_class = forms.ChoiceField(label=_("Class"), required=False)
    region = forms.ChoiceField(label=_("Region"), required=False)
    tier = forms.ChoiceField(label=_("Site tier"), choices=_any(Tier.choices), required=False)
    kind = forms.ChoiceField(label=_("Window"), choices=_any(WindowKind.choices), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        classes = ResourceClass.objects.values_list("code", flat=True)
        self.fields["resource_class"].choices = _any((c, c) for c in classes)
        self.fields["region"].choices = _any(Region.objects.values_list("code", _region_name()))

    def criteria(self) -> dict:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}


class OrderForm(forms.Form):
    """An order's terms as on the order log (§9); every rule is the service's."""

    side = forms.ChoiceField(label=_("Side"), choices=Side.choices)
    type = forms.ChoiceField(label=_("Type"), choices=OrderType.choices)
    price = forms.DecimalField(
        label=_("Limit price (¥ per unit-hour)"), max_digits=12, decimal_places=4, min_value=0, required=False
    )
    qty = forms.IntegerField(label=_("Quantity (units)"), min_value=1, max_value=10**6)
    tif = forms.ChoiceField(label=_("Time in force"), choices=TimeInForce.choices)
    expire_at = forms.DateTimeField(
        label=_("Expires at (GTD, local time)"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    client_order_id = forms.CharField(label=_("Your order id (optional)"), max_length=64, required=False)

    def __init__(self, *args, tick=None, **kwargs):
        super().__init__(*args, **kwargs)
        if tick is not None:  # the browser's arrows step by the instrument's tick
            self.fields["price"].widget.attrs["step"] = str(tick.normalize())

    def terms(self, *, instrument: str) -> OrderTerms:
        d = self.cleaned_data
        return OrderTerms(
            instrument=instrument,
            side=d["side"],
            type=d["type"],
            qty=d["qty"],
            tif=d["tif"],
            price=d["price"],
            expire_at=d["expire_at"],
            client_order_id=d["client_order_id"] or "",
        )


class OrderFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=_any(OrderStatus.choices), required=False)
    instrument = forms.CharField(label=_("Instrument"), max_length=60, required=False)


# the name of a matching batch, as the statement of account gives it
match_batch = RegexValidator(
    MATCH_BATCH,
    _("Not a matching batch: write it as on the statement of account, e.g. match:3:1-5000."),
    code="bad_batch",
)


class FillFilterForm(forms.Form):
    instrument = forms.CharField(label=_("Instrument"), max_length=60, required=False)
    batch = forms.CharField(label=_("Matching batch"), max_length=60, required=False, validators=[match_batch])


# --- retail --------------------------------------------------------------------------------------

LOCAL_MINUTE = {
    "input_formats": ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    "widget": forms.DateTimeInput(attrs={"type": "datetime-local", "step": 60}, format="%Y-%m-%dT%H:%M"),
}


class RetailFilterForm(forms.Form):
    resource_class = forms.ChoiceField(label=_("Class"), required=False)
    region = forms.ChoiceField(label=_("Region"), required=False)
    tier = forms.ChoiceField(label=_("Site tier"), choices=_any(Tier.choices), required=False)
    billing = forms.ChoiceField(label=_("Billing"), choices=_any(Billing.choices), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resource_class"].choices = _any(
            (c, c) for c in ResourceClass.objects.values_list("code", flat=True)
        )
        self.fields["region"].choices = _any(Region.objects.values_list("code", _region_name()))

    def criteria(self) -> dict:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}


class ReservationForm(forms.Form):
    """A reservation's terms; every rule is the service's. Times are local, whole minutes."""

    units = forms.IntegerField(label=_("Units"), min_value=1, max_value=10**7)
    start = forms.DateTimeField(label=_("Start (local time)"), **LOCAL_MINUTE)
    end = forms.DateTimeField(label=_("End (local time)"), **LOCAL_MINUTE)

    def terms(self, *, listing_id: int) -> ReservationTerms:
        d = self.cleaned_data
        return ReservationTerms(listing_id=listing_id, units=d["units"], start=d["start"], end=d["end"])


class ListingForm(forms.Form):
    pool = forms.ChoiceField(label=_("Pool (connected)"))
    resource_class = forms.ChoiceField(label=_("Class"))
    units = forms.IntegerField(label=_("Units"), min_value=1, max_value=10**7)
    price = forms.DecimalField(label=_("Price (¥ per unit-hour)"), max_digits=12, decimal_places=4, min_value=0,
                               help_text=_("Not below the cost of the class in the pool's region (§8)."))  # fmt: skip
    billing = forms.ChoiceField(label=_("Billing"), choices=Billing.choices)
    minimum_minutes = forms.IntegerField(label=_("Minimum duration (minutes)"), min_value=1, initial=60,
                                         help_text=_("Per time: at least 60."))  # fmt: skip
    available_from = forms.DateTimeField(label=_("Available from (local time)"), required=False,
                                         help_text=_("Empty: from now."), **LOCAL_MINUTE)  # fmt: skip
    available_until = forms.DateTimeField(label=_("Available until (local time)"), **LOCAL_MINUTE)

    def __init__(self, *args, pools=(), **kwargs):
        super().__init__(*args, **kwargs)
        pools = list(pools)
        self.fields["pool"].choices = [(p.pk, f"{p.code} · {p.region_id}/{p.tier}") for p in pools]
        classes = sorted({r.resource_class_id for p in pools for r in p.resources.all()})
        self.fields["resource_class"].choices = [(c, c) for c in classes]

    def terms(self) -> ListingTerms:
        d = self.cleaned_data
        return ListingTerms(
            pool_id=int(d["pool"]), resource_class=d["resource_class"], units=d["units"], price=d["price"],
            billing=d["billing"], minimum_minutes=d["minimum_minutes"],
            available_from=d["available_from"] or timezone.now(), available_until=d["available_until"],
        )  # fmt: skip


class ReservationFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=_any(ReservationStatus.choices), required=False)


# --- the shelf (货架) ----------------------------------------------------------------------------


class ShelfForm(forms.Form):
    """The shelf's filters and sort, read from the query string so a link shows the same shelf.
    A value that does not fit is reported on its field and left out; the rest still apply."""

    city = forms.ChoiceField(label=_("Your city"), choices=CityCore.choices, required=False,
                             help_text=_("Latency is the round trip from the region to this city core."))  # fmt: skip
    resource_class = forms.ChoiceField(label=_("Class"), required=False)
    region = forms.ChoiceField(label=_("Region"), required=False)
    tier = forms.ChoiceField(label=_("Site tier"), choices=_any(Tier.choices), required=False)
    mode = forms.ChoiceField(label=_("Trade mode"), choices=_any(TRADE_MODE_CHOICES), required=False)
    billing = forms.ChoiceField(label=_("Billing"), choices=_any(Billing.choices), required=False)
    max_price = forms.DecimalField(label=_("Max price (¥ per unit-hour)"), max_digits=12, decimal_places=4,
                                   min_value=0, required=False)  # fmt: skip
    max_latency = forms.DecimalField(label=_("Max latency (ms)"), max_digits=8, decimal_places=2, min_value=0,
                                     required=False)  # fmt: skip
    min_green = forms.DecimalField(label=_("Min green power (%)"), max_digits=5, decimal_places=2, min_value=0,
                                   max_value=100, required=False)  # fmt: skip
    available = forms.BooleanField(label=_("Available now only"), required=False)
    sort = forms.ChoiceField(label=_("Sort by"), choices=SORT_CHOICES, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resource_class"].choices = _any(
            (c, c) for c in ResourceClass.objects.values_list("code", flat=True)
        )
        self.fields["region"].choices = _any(Region.objects.values_list("code", _region_name()))

    def values(self) -> dict:
        """The valid values (every field, invalid ones as if left empty)."""
        if not self.is_bound:
            return dict.fromkeys(self.fields)
        self.is_valid()
        return {name: self.cleaned_data.get(name) for name in self.fields}

    def criteria(self) -> Criteria:
        v = self.values()
        return Criteria(
            resource_class=v["resource_class"] or "", region=v["region"] or "", tier=v["tier"] or "",
            mode=v["mode"] or "", billing=v["billing"] or "", max_price=v["max_price"],
            max_latency=v["max_latency"], min_green=v["min_green"], available_only=bool(v["available"]),
            sort=v["sort"] or "",
        )  # fmt: skip

    def chosen_city(self) -> str:
        """The city asked for, or "" (the caller's default)."""
        return self.values()["city"] or ""


# --- scheduling (§10) ----------------------------------------------------------------------------

LOCAL_HOUR = {
    "input_formats": ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    "widget": forms.DateTimeInput(attrs={"type": "datetime-local", "step": 3600}, format="%Y-%m-%dT%H:%M"),
}


class DemandForm(forms.Form):
    """A demand's terms ("Schedule for me"); every rule is the service's, which names the field."""

    resource_class = forms.ChoiceField(
        label=_("Class"), required=False, help_text=_("Or leave empty and give a minimum SCU: any GPU class.")
    )
    units = forms.IntegerField(label=_("Units"), required=False, min_value=0, max_value=10**6)
    min_scu = forms.DecimalField(label=_("Minimum SCU (FP16 TFLOPS), instead of a class"), required=False,
                                 max_digits=14, decimal_places=2)  # fmt: skip
    hours = forms.IntegerField(label=_("Duration (hours)"), min_value=0, max_value=10**4, initial=4)
    earliest_start = forms.DateTimeField(label=_("Earliest start (local time, on the hour)"), **LOCAL_HOUR)
    latest_finish = forms.DateTimeField(label=_("Latest finish (local time, on the hour)"), **LOCAL_HOUR)
    city = forms.ChoiceField(label=_("City core for the latency ceiling"), required=False)
    max_rtt_ms = forms.IntegerField(label=_("Latency ceiling (ms round trip)"), required=False, max_value=10**4)
    regions = forms.MultipleChoiceField(label=_("Allowed regions (none ticked: any)"), required=False,
                                        widget=forms.CheckboxSelectMultiple)  # fmt: skip
    residency = forms.ChoiceField(label=_("Data must stay in"), required=False,
                                  help_text=_("Only pools in that region that guarantee residency."))  # fmt: skip
    carbon_weight = forms.DecimalField(
        label=_("Carbon weight (¥ per kg CO₂)"), max_digits=12, decimal_places=4, initial=0,
        help_text=_("0: carbon does not count; higher favours green power."),
    )  # fmt: skip
    max_price = forms.DecimalField(label=_("Maximum price (¥ per unit-hour)"), required=False, max_digits=12,
                                   decimal_places=4)  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resource_class"].choices = [("", _("— any GPU class, by SCU —"))] + [
            (c, c) for c in ResourceClass.objects.values_list("code", flat=True)
        ]

        self.fields["city"].choices = [("", _("None"))] + list(CityCore.choices)
        regions = list(Region.objects.values_list("code", _region_name()))
        self.fields["regions"].choices = [(code, f"{code} · {name}") for code, name in regions]
        self.fields["residency"].choices = [("", _("No requirement"))] + [(c, f"{c} · {n}") for c, n in regions]

    def single_fields(self):
        """Every field but the regions' checkboxes (which the page shows as a fieldset)."""
        return [field for field in self if field.name != "regions"]

    def terms(self):
        from marketplace.services.scheduling import DemandTerms

        d = self.cleaned_data
        return DemandTerms(
            resource_class=d["resource_class"] or None, units=d["units"], min_scu=d["min_scu"], hours=d["hours"],
            earliest_start=d["earliest_start"], latest_finish=d["latest_finish"], city=d["city"] or None,
            max_rtt_ms=d["max_rtt_ms"], regions=tuple(d["regions"]), residency=d["residency"] or None,
            carbon_weight=d["carbon_weight"] if d["carbon_weight"] is not None else 0, max_price=d["max_price"],
        )  # fmt: skip


class DemandFilterForm(forms.Form):
    def __init__(self, *args, **kwargs):
        from marketplace.models import DemandStatus

        super().__init__(*args, **kwargs)
        self.fields["status"] = forms.ChoiceField(label=_("Status"), choices=_any(DemandStatus.choices), required=False)
