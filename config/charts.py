"""Charts drawn on the server as inline SVG (templates/_stacked_bars.html): no chart library, no
script and no internet needed, readable without JavaScript, and the same figures as the table a
chart stands beside. Geometry only: the values stay Decimal, coordinates are written to 0.1 px."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

TENTH = Decimal("0.1")


def _px(value: Decimal) -> str:
    return f"{value.quantize(TENTH, ROUND_HALF_UP):f}"


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value`` (an axis's top); 1 for nothing."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        top = step.scaleb(exponent)
        if top >= value:
            return top.normalize() if top == top.to_integral_value() else top
    return Decimal(10).scaleb(exponent)  # pragma: no cover (10 × 10ⁿ ≥ any value of exponent n)


@dataclass(frozen=True)
class Segment:
    series: str
    value: Decimal
    y: str
    height: str


@dataclass(frozen=True)
class Bar:
    label: str  # the category, as the table writes it
    tick: str  # the label under the bar, or "" to leave it out
    x: str
    width: str
    centre: str
    total: Decimal
    segments: list[Segment]


@dataclass(frozen=True)
class StackedBars:
    width: int
    height: int
    left: int
    top: int
    bottom: int  # the baseline's y
    right: int
    series: tuple[str, ...]
    bars: list[Bar]
    ticks: list[tuple[str, str]]  # (y, value as written) of the horizontal grid lines


def stacked_bars(
    *,
    categories: list[tuple[str, str, dict[str, Decimal]]],
    series: tuple[str, ...],
    width: int = 720,
    height: int = 260,
) -> StackedBars:
    """One bar per category ``(label, tick label, {series: value})``, its series stacked bottom
    up in ``series`` order, on a shared axis from 0 to a round top with four grid steps."""
    left, right, top, bottom = 56, 8, 10, height - 26
    plot_w, plot_h = Decimal(width - left - right), Decimal(bottom - top)
    highest = max((sum((v.get(s, 0) for s in series), Decimal(0)) for _, _, v in categories), default=Decimal(0))
    axis_top = nice_ceiling(highest)
    slot = plot_w / max(len(categories), 1)
    bar_w = slot * Decimal("0.7")
    bars = []
    for n, (label, tick, values) in enumerate(categories):
        x = Decimal(left) + slot * n + (slot - bar_w) / 2
        base = Decimal(bottom)
        segments = []
        for name in series:
            value = values.get(name, Decimal(0))
            if value > 0:
                h = plot_h * value / axis_top
                base -= h
                segments.append(Segment(name, value, _px(base), _px(h)))
        total = sum((values.get(s, Decimal(0)) for s in series), Decimal(0))
        bars.append(Bar(label, tick, _px(x), _px(bar_w), _px(x + bar_w / 2), total, segments))
    ticks = [(_px(Decimal(bottom) - plot_h * i / 4), f"{(axis_top * i / 4).normalize():,f}") for i in range(5)]
    return StackedBars(width, height, left, top, bottom, width - right, series, bars, ticks)
