"""Charts drawn on the server as inline SVG (no chart library, no CDN, no script needed).

Pure geometry, no Django import: a caller gives values (Decimal or int) and labels already
formatted for the reader; this module maps them onto a fixed viewBox and ``templates/_chart.html``
draws the result. Coordinates are Decimal rounded to 0.1 px, so money never passes through a
float, not even on its way to a pixel.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28  # margins: y labels on the left, x labels below
PX = Decimal("0.1")
DOTS_UP_TO = 40


@dataclass(frozen=True)
class Point:
    x: Decimal
    y: Decimal
    title: str  # what a reader sees on hover: "2026-12-01: ¥1,234.00"


@dataclass(frozen=True)
class Series:
    label: str
    css: str  # a class of static/css/site.css: s1…s6, ok, warn, bad
    points: tuple[Point, ...]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.points)

    @property
    def dots(self) -> tuple[Point, ...]:
        """The points drawn as dots (each with its value on hover): all of a sparse series, none
        of a dense one (72 hours, a day of heartbeats), whose line says enough."""
        return self.points if len(self.points) <= DOTS_UP_TO else ()


@dataclass(frozen=True)
class Bar:
    x: Decimal
    y: Decimal
    width: Decimal
    height: Decimal
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    at: Decimal  # x or y in px
    label: str


@dataclass(frozen=True)
class Chart:
    title: str  # the accessible name (aria-label)
    series: tuple[Series, ...]
    bars: tuple[Bar, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    empty: bool
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    bottom_edge: int = HEIGHT - BOTTOM
    top: int = TOP


def _px(value: Decimal) -> Decimal:
    return Decimal(value).quantize(PX, rounding=ROUND_HALF_UP)


def _nice_max(top: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``top`` (the y axis ends on a round value)."""
    if top <= 0:
        return Decimal(1)
    exponent = top.adjusted()
    for _ in range(2):
        for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
            candidate = step.scaleb(exponent)
            if candidate >= top:
                return candidate
        exponent += 1
    return top


class _Frame:
    def __init__(self, *, y_max: Decimal, y_min: Decimal = Decimal(0)):
        self.y_min, self.y_max = y_min, y_max if y_max > y_min else y_min + 1
        self.inner_w = Decimal(WIDTH - LEFT - RIGHT)
        self.inner_h = Decimal(HEIGHT - TOP - BOTTOM)

    def x(self, fraction: Decimal) -> Decimal:
        return _px(LEFT + self.inner_w * fraction)

    def y(self, value) -> Decimal:
        share = (Decimal(value) - self.y_min) / (self.y_max - self.y_min)
        return _px(TOP + self.inner_h * (1 - share))

    def y_ticks(self, fmt: Callable[[Decimal], str]) -> tuple[Tick, ...]:
        """Labelled lines on round steps (a fifth of an axis ending in 1, 2.5 or 5 × 10ⁿ, a
        quarter of one ending in 2 × 10ⁿ); one whose label reads as the one below it (e.g.
        units 0.2 and 0.4 shown as 0) is left out."""
        span = self.y_max - self.y_min
        n = 4 if span.normalize().as_tuple().digits == (2,) else 5
        ticks: list[Tick] = []
        for i in range(n + 1):
            label = fmt(self.y_min + span * i / n)
            if not ticks or ticks[-1].label != label:
                ticks.append(Tick(self.y(self.y_min + span * i / n), label))
        return tuple(ticks)


def _x_ticks(frame: _Frame, labels: Sequence[str], at: Callable[[int], Decimal], most: int = 8) -> tuple[Tick, ...]:
    if not labels:
        return ()
    step = max(1, -(-len(labels) // most))
    return tuple(Tick(frame.x(at(i)), labels[i]) for i in range(0, len(labels), step))


def line_chart(
    *,
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[Decimal | int | None]]],
    y_format: Callable[[Decimal], str] = str,
    y_max: Decimal | None = None,
) -> Chart:
    """Lines over evenly spaced categories (days, hours): ``series`` is (label, css class,
    values), one value per x label; ``None`` leaves a gap (e.g. a day without trades)."""
    n = len(x_labels)
    values = [Decimal(v) for _, _, vs in series for v in vs if v is not None]
    frame = _Frame(y_max=y_max if y_max is not None else _nice_max(max(values, default=Decimal(0))))

    def at(i: int) -> Decimal:
        return Decimal(i) / (n - 1) if n > 1 else Decimal("0.5")

    drawn = []
    for label, css, vs in series:
        points = tuple(
            Point(frame.x(at(i)), frame.y(v), f"{x_labels[i]}: {y_format(Decimal(v))}")
            for i, v in enumerate(vs)
            if v is not None
        )
        drawn.append(Series(label, css, points))
    return Chart(
        title=title,
        series=tuple(drawn),
        bars=(),
        x_ticks=_x_ticks(frame, x_labels, at),
        y_ticks=frame.y_ticks(y_format) if values else (),
        empty=not values,
    )


def bar_chart(
    *,
    title: str,
    x_labels: Sequence[str],
    values: Sequence[Decimal | int],
    css: str = "s1",
    y_format: Callable[[Decimal], str] = str,
) -> Chart:
    """One bar per category (e.g. a day's traded units)."""
    n = len(x_labels)
    frame = _Frame(y_max=_nice_max(max((Decimal(v) for v in values), default=Decimal(0))))
    slot = frame.inner_w / max(n, 1)
    bars = []
    for i, v in enumerate(values):
        top = frame.y(v)
        bars.append(
            Bar(
                x=_px(LEFT + slot * i + slot / 10),
                y=top,
                width=_px(slot * 8 / 10),
                height=_px(frame.y(0) - top),
                css=css,
                title=f"{x_labels[i]}: {y_format(Decimal(v))}",
            )
        )
    return Chart(
        title=title,
        series=(),
        bars=tuple(bars),
        x_ticks=_x_ticks(frame, x_labels, lambda i: (Decimal(i) + Decimal("0.5")) / max(n, 1)),
        y_ticks=frame.y_ticks(y_format) if any(values) else (),
        empty=not any(values),
    )


def time_chart(
    *,
    title: str,
    start: datetime,
    end: datetime,
    series: Sequence[tuple[str, str, Sequence[tuple[datetime, Decimal | int]]]],
    bands: Sequence[tuple[datetime, datetime, str, str]] = (),
    x_ticks: Sequence[tuple[datetime, str]] = (),
    time_label: Callable[[datetime], str] = str,
    y_format: Callable[[Decimal], str] = str,
) -> Chart:
    """Values at instants over [start, end) (e.g. a pool's heartbeats), with optional coloured
    bands under them: ``bands`` is (from, to, css class, title), e.g. the health each heartbeat
    reported until the next one."""
    span = Decimal((end - start).total_seconds())

    def at(moment: datetime) -> Decimal:
        share = Decimal((moment - start).total_seconds()) / span
        return min(max(share, Decimal(0)), Decimal(1))

    values = [Decimal(v) for _, _, pts in series for _, v in pts]
    frame = _Frame(y_max=_nice_max(max(values, default=Decimal(0))))
    drawn = tuple(
        Series(
            label,
            css,
            tuple(Point(frame.x(at(t)), frame.y(v), f"{time_label(t)}: {y_format(Decimal(v))}") for t, v in pts),
        )
        for label, css, pts in series
    )
    drawn_bands = []
    for band_start, band_end, css, band_title in bands:
        x0, x1 = frame.x(at(band_start)), frame.x(at(band_end))
        if x1 > x0:
            drawn_bands.append(
                Bar(x=x0, y=Decimal(HEIGHT - BOTTOM + 4), width=x1 - x0, height=Decimal(6), css=css, title=band_title)
            )
    return Chart(
        title=title,
        series=drawn,
        bars=tuple(drawn_bands),
        x_ticks=tuple(Tick(frame.x(at(t)), label) for t, label in x_ticks),
        y_ticks=frame.y_ticks(y_format) if values else (),
        empty=not values,
    )


# Stacked bars (the usage page: unit-hours per day, stacked by time-of-use period):
# geometry written as text, drawn by templates/_stacked_bars.html.


def _px_text(value: Decimal) -> str:
    return f"{_px(value):f}"


@dataclass(frozen=True)
class Segment:
    series: str
    value: Decimal
    y: str
    height: str


@dataclass(frozen=True)
class StackedBar:
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
    bars: list[StackedBar]
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
    axis_top = _nice_max(highest)
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
                segments.append(Segment(name, value, _px_text(base), _px_text(h)))
        total = sum((values.get(s, Decimal(0)) for s in series), Decimal(0))
        bars.append(StackedBar(label, tick, _px_text(x), _px_text(bar_w), _px_text(x + bar_w / 2), total, segments))
    ticks = [(_px_text(Decimal(bottom) - plot_h * i / 4), f"{(axis_top * i / 4).normalize():,f}") for i in range(5)]
    return StackedBars(width, height, left, top, bottom, width - right, series, bars, ticks)
