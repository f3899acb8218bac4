from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKeyScope, CityCore, Membership


class OrganisationForm(forms.Form):
    name = forms.CharField(label=_("Organisation name"), max_length=120)
    is_buyer = forms.BooleanField(label=_("We buy compute"), required=False, initial=True)
    is_provider = forms.BooleanField(label=_("We provide compute (connect resource pools)"), required=False)
    city = forms.ChoiceField(
        label=_("Nearest city core"),
        choices=[("", _("None"))] + list(CityCore.choices),
        required=False,
        help_text=_("The shelf shows each product's latency to it."),
    )


class MemberForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address to invite"))
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices, initial=Membership.Role.TRADER)


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"), choices=ApiKeyScope.choices, widget=forms.CheckboxSelectMultiple
    )


def apply_errors(form: forms.Form, error, field_map: dict | None = None) -> None:
    """Put a service's ExchangeError on a form: field errors on their fields, the rest on top."""
    field_map = field_map or {}
    if not error.fields:
        form.add_error(None, error.detail)
        return
    for name, problems in error.fields.items():
        target = field_map.get(name, name)
        if target not in form.fields:
            target = None
        for p in problems:
            form.add_error(target, p["detail"] if target else f"{name}: {p['detail']}")
