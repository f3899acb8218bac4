from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.models import Region, ResourceClass, Tier


def _schema_rule(properties: dict, path: str) -> dict:
    """The JSON Schema rule of a descriptor path, e.g. ``resources.0.units`` or ``location.latitude``."""
    rule: dict = {"properties": properties}
    for part in path.split("."):
        rule = rule.get("items", {}) if part.isdigit() else rule.get("properties", {}).get(part, {})
    return rule


class PoolForm(forms.Form):
    """The grid-connection descriptor as a form; the service validates it by the standard's schema."""

    code = forms.CharField(
        label=_("Code"), max_length=40, help_text=_("3–40 of a-z, 0-9 and '-'; unique among your pools.")
    )
    name = forms.CharField(label=_("Name"), max_length=120)
    region = forms.ChoiceField(label=_("Region"))
    tier = forms.ChoiceField(label=_("Site tier"), choices=Tier.choices)
    city = forms.CharField(label=_("City served"), max_length=60)
    latitude = forms.DecimalField(label=_("Latitude (WGS-84)"), max_digits=9, decimal_places=6)
    longitude = forms.DecimalField(label=_("Longitude (WGS-84)"), max_digits=10, decimal_places=6)
    rtt_ms = forms.DecimalField(label=_("Round-trip latency to the city core, ms"), max_digits=8, decimal_places=2)
    pue = forms.DecimalField(label=_("PUE"), max_digits=3, decimal_places=2, help_text=_("1.00 – 3.00"))
    green_power_share = forms.DecimalField(
        label=_("Green-power share"), max_digits=4, decimal_places=3, help_text=_("0 – 1")
    )
    security_level = forms.TypedChoiceField(
        label=_("Security level (MLPS 等保)"), coerce=int, choices=[(i, str(i)) for i in range(1, 5)]
    )
    data_residency = forms.BooleanField(label=_("Buyer data stays inside the region"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [(r.code, f"{r.code} · {r.name_zh} {r.name_en}") for r in Region.objects.all()]
        self.class_fields = []
        for c in ResourceClass.objects.all():
            name = f"units_{c.code}"
            self.fields[name] = forms.IntegerField(label=f"{c.code} ({c.unit})", required=False, min_value=1)
            self.class_fields.append(name)

    def unit_fields(self):
        return [self[name] for name in self.class_fields]

    def descriptor(self) -> dict:
        d = self.cleaned_data
        return {
            "code": d["code"],
            "name": d["name"],
            "region": d["region"],
            "tier": d["tier"],
            "city": d["city"],
            "location": {"latitude": d["latitude"], "longitude": d["longitude"]},
            "rtt_ms": d["rtt_ms"],
            "pue": d["pue"],
            "green_power_share": d["green_power_share"],
            "security_level": d["security_level"],
            "data_residency": d["data_residency"],
            "resources": [
                {"class": name.removeprefix("units_"), "units": d[name]} for name in self.class_fields if d.get(name)
            ],
        }

    # The standard's reason codes (catalog.descriptor), said in the reader's language at the field
    REASONS = {
        "required": _("This field is required."),
        "invalid_format": _("Not in the required format."),
        "invalid_choice": _("Not one of the allowed values."),
        "min_value": _("Too small: at least %(limit)s."),
        "max_value": _("Too large: at most %(limit)s."),
        "min_items": _("Give the installed units of at least one resource class."),
        "duplicate": _("You already have a pool with this code."),
    }

    def apply_descriptor_errors(self, error) -> None:
        """The service's field-by-field refusal put on the form: each problem at its field (the
        resource list's at the units), as a sentence with the standard's reason code after it,
        e.g. "Too large: at most 3. (max_value)". A problem with no field goes on top."""
        from catalog.selectors import pool_descriptor_schema

        if not error.fields:
            self.add_error(None, error.detail)
            return
        properties = pool_descriptor_schema()["properties"]
        mapping = self.field_map()
        for path, problems in error.fields.items():
            name = mapping.get(path, path)
            if path == "resources" and self.class_fields:
                name = self.class_fields[0]
            rule = _schema_rule(properties, path)
            for problem in problems:
                reason = self.REASONS.get(problem["code"])
                if problem["code"] == "min_value":
                    limit = rule.get("minimum", rule.get("exclusiveMinimum"))
                else:
                    limit = rule.get("maximum")
                text = str(reason) % {"limit": limit} if reason is not None else problem["detail"]
                message = f"{text} ({problem['code']})"
                self.add_error(name if name in self.fields else None, message)

    def field_map(self) -> dict:
        """Descriptor paths → form fields, for the service's field errors."""
        mapping = {"location.latitude": "latitude", "location.longitude": "longitude"}
        resources = self.descriptor()["resources"] if hasattr(self, "cleaned_data") else []
        for i, r in enumerate(resources):
            mapping[f"resources.{i}.units"] = f"units_{r['class']}"
            mapping[f"resources.{i}.class"] = f"units_{r['class']}"
        return mapping


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )


class KeyNameForm(forms.Form):
    name = forms.CharField(label=_("Key name"), max_length=80, required=False)
