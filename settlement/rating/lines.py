"""What the rating engine hands back: invoice lines, a rating (lines, subtotal, VAT, total) and
their Appendix A JSON shape, and the standard's half-up rounding of exact fractions (§1, §11)."""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

CENT = Decimal("0.01")
HOURS_PLACES = 6


def round_half_up(value: Fraction | Decimal | int, places: int) -> Decimal:
    """``value`` rounded half-up (四舍五入, ties away from zero) to ``places`` decimals, exactly:
    the value may be any fraction (slice quantities are), the result is a Decimal with exactly
    ``places`` places."""
    value = Fraction(value)
    scale = 10**places
    units, rest = divmod(abs(value.numerator) * scale, value.denominator)
    if 2 * rest >= value.denominator:
        units += 1
    if value < 0:
        units = -units
    return Decimal(f"{units}E-{places}")  # exact whatever the decimal context's precision


@dataclass(frozen=True)
class TimeLine:
    """A per-time charge (§6.1): one reservation or contract."""

    product: str
    id: str
    units: int
    minutes: int
    amount: Decimal


@dataclass(frozen=True)
class VolumeLine:
    """A per-volume charge (§6.2): one product's slices of one time-of-use kind and one tier.
    ``hours``, their unit-hours, half-up to 6 places as shown; ``amount``, the half-up rounded
    sum of the slices' exact amounts."""

    product: str
    tou: str
    discount: Decimal
    hours: Decimal
    amount: Decimal


Line = TimeLine | VolumeLine


@dataclass(frozen=True)
class Rating:
    lines: tuple[Line, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def rating_total(*, lines: Iterable[Line], tax_rate: Decimal) -> Rating:
    """Lines, their subtotal, VAT on it half-up to the fen, and the total (§11)."""
    lines = tuple(lines)
    subtotal = sum((line.amount for line in lines), Decimal("0.00"))
    tax = round_half_up(Fraction(subtotal) * Fraction(tax_rate), 2)
    return Rating(lines, subtotal, tax, subtotal + tax)


def _money(value: Decimal) -> str:
    return format(value.quantize(CENT, rounding=ROUND_HALF_UP), "f")


def line_json(line: Line, *, product: bool = False) -> dict:
    """A line in the Appendix A shape; ``product`` adds the product code, for ratings of more
    than one product."""
    if isinstance(line, TimeLine):
        out = {"id": line.id, "minutes": line.minutes, "amount": _money(line.amount)}
    else:
        out = {
            "tou": line.tou,
            "discount": _money(line.discount),
            "hours": format(line.hours, "f"),
            "amount": _money(line.amount),
        }
    return {"product": line.product, **out} if product else out


def rating_json(rating: Rating, *, product: bool = False) -> dict:
    """``{"lines": [...], "subtotal", "tax", "total"}`` as Appendix A prints it."""
    return {
        "lines": [line_json(line, product=product) for line in rating.lines],
        "subtotal": _money(rating.subtotal),
        "tax": _money(rating.tax),
        "total": _money(rating.total),
    }
