"""Per-time charges (trading standard §6.1): the reserved time, used or not, by the minute."""

from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

from settlement.rating.inputs import MINUTE_US, PER_TIME, Period, Product, Reservation, instant_us
from settlement.rating.lines import TimeLine, round_half_up


def time_minutes(*, start_us: int, end_us: int, minimum_minutes: int) -> int:
    """``max(minimum, ceil(used seconds / 60))``: every started minute counts."""
    return max(minimum_minutes, -(-(end_us - start_us) // MINUTE_US))


def time_line(*, product: Product, reservation: Reservation) -> TimeLine:
    """One reservation's charge: ``round_half_up(price × units × minutes / 60, 0.01)``."""
    minutes = time_minutes(
        start_us=instant_us(reservation.start),
        end_us=instant_us(reservation.end),
        minimum_minutes=product.minimum_minutes,
    )
    amount = time_amount(price=product.list_price, units=reservation.units, minutes=minutes)
    return TimeLine(product.code, reservation.id, reservation.units, minutes, amount)


def time_amount(*, price: Decimal, units: int, minutes: int) -> Decimal:
    """``round_half_up(price × units × minutes / 60, 0.01)``, exactly."""
    return round_half_up(Fraction(price) * units * minutes / 60, 2)


def time_lines(*, product: Product, reservations: Iterable[Reservation], period: Period) -> list[TimeLine]:
    """The lines of the reservations that start in ``period`` (each is charged whole in the
    period it starts in), ordered by start, then id."""
    if product.billing != PER_TIME:
        raise ValueError(f"{product.code} is billed {product.billing}, not per time")
    period_start, period_end = period.bounds_us()
    chosen = [r for r in reservations if period_start <= instant_us(r.start) < period_end]
    chosen.sort(key=lambda r: (instant_us(r.start), r.id))
    return [time_line(product=product, reservation=r) for r in chosen]
