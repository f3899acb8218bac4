"""Money in templates: `{{ amount|yuan }}` shows ¥1,234.50; `{{ price|yuan:4 }}` keeps a unit price's four places;
`{{ tariff|yuan:"4+" }}` shows at least four places and more where the value is finer (a time-of-use
rate such as 21.3333 × 1.5 = ¥31.99995 is written exactly, never rounded on the page);
`{{ band.low|yuan:"=" }}` keeps the places the value has (a price on the tick, as a refusal writes it).

Display only: the value is quantized half-up to the places asked (amounts are stored at two places
already, so nothing moves), grouped by thousands with a comma in both languages (as Chinese
financial documents write them), and a negative amount is written −¥1,234.50. Never a float: a
value that is not a Decimal, int or numeric string is shown as it is.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()


def _grouped(value: Decimal, places: int) -> str:
    exact = abs(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    whole, _, fraction = f"{exact:f}".partition(".")
    groups = f"{int(whole):,}"
    return f"{groups}.{fraction}" if fraction else groups


def _number(value) -> Decimal | None:
    """``value`` as a finite Decimal, or None for what is not a number (a float never is money)."""
    if isinstance(value, float | bool):
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def _shown(value, spec) -> tuple[Decimal, int] | None:
    """``value`` as a finite Decimal with the decimals to show — N; "N+": at least N and more where
    the value is finer; "=": the places it is written with — or None when either does not parse."""
    number = _number(value)
    if number is None:
        return None
    try:
        if spec == "=":
            return number, max(0, -number.as_tuple().exponent)
        if isinstance(spec, str) and spec.endswith("+"):
            return number, max(int(spec[:-1]), -number.normalize().as_tuple().exponent)
        return number, int(spec)
    except (TypeError, ValueError):
        return None


@register.filter
def yuan(value, places=2):
    """¥ with thousands separators; `places` decimals: 2 for amounts, 4 for unit prices, "4+" for at
    least 4, "=" for the places the value has."""
    if value is None or value == "":
        return ""
    shown = _shown(value, places)
    if shown is None:
        return value
    number, places = shown
    sign = "−" if number < 0 and number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP) != 0 else ""
    return f"{sign}¥{_grouped(number, places)}"


@register.filter
def grouped(value, places=0):
    """A quantity with thousands separators (units, unit-hours, kg), no currency sign; `places`
    decimals, or "=" for the places the value needs (trailing zeros dropped: 12.50 ms shows 12.5)."""
    if value is None or value == "":
        return value
    shown = _shown(value, "0+" if places == "=" else places)
    if shown is None:
        return value
    number, places = shown
    sign = "−" if number < 0 else ""
    return f"{sign}{_grouped(number, places)}"


@register.filter
def described(value):
    """A text a service wrote into a record (an invoice line, a journal memo), in the reader's
    language: see settlement/wording.py."""
    from settlement.wording import describe

    return describe(value) if isinstance(value, str) else value
