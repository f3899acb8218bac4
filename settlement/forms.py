from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from settlement.models import Purpose

MONEY = {"max_digits": 20, "decimal_places": 2}


class BankTransferForm(forms.Form):
    reference = forms.CharField(label=_("Reference on the transfer"), max_length=20)
    amount = forms.DecimalField(label=_("Amount (¥)"), min_value=0, **MONEY)
    bank_transaction_id = forms.CharField(label=_("Bank's transaction id"), max_length=100)


class AdjustmentForm(forms.Form):
    organisation = forms.SlugField(label=_("Organisation (slug)"))
    purpose = forms.ChoiceField(
        label=_("Account"),
        choices=[(Purpose.BUYER_CASH, _("Prepaid funds")), (Purpose.PROVIDER_PAYABLE, _("Payable to provider"))],
    )
    amount = forms.DecimalField(label=_("Amount (¥, negative to lower)"), **MONEY)
    reason = forms.CharField(label=_("Reason (required)"), max_length=300)


class PayoutForm(forms.Form):
    organisation = forms.SlugField(label=_("Provider (slug)"))
    amount = forms.DecimalField(label=_("Amount (¥)"), min_value=0, **MONEY)
    bank_transaction_id = forms.CharField(label=_("Bank's transaction id"), max_length=100)


class CardTopUpForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount (¥)"), min_value=Decimal("0.01"), **MONEY)
    payment_method = forms.ChoiceField(
        label=_("Card"),
        choices=[("pm_card_visa", _("Test card: Visa 4242 4242 4242 4242"))],
        help_text=_("Stripe test mode: in live mode the card is entered in Stripe's own form."),
    )


class UsageMonthForm(forms.Form):
    """The month the usage page shows (``?month=YYYY-MM``, local time); this month when absent."""

    month = forms.DateField(
        label=_("Month"),
        input_formats=["%Y-%m"],
        required=False,
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        error_messages={"invalid": _("A month as YYYY-MM, e.g. 2026-12.")},
    )

    def clean_month(self):
        month = self.cleaned_data["month"]
        if month is not None and not (2000 <= month.year <= 2099):
            raise forms.ValidationError(_("Choose a month from 2000-01 to 2099-12."), code="out_of_range")
        return month
