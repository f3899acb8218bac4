"""The instrument's charts as SVG geometry, drawn on the server so the page shows them without
JavaScript (static/js/market.js redraws the same shapes from each live fetch). Pure: no Django
import. Prices are placed by exact decimals; only the pixel coordinates are rounded (to 0.1)."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

W, H, PAD = 480, 220, 34


def _px(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1')):f}"


@dataclass(frozen=True)
class DepthChart:
    bids: str  # the SVG path of cumulative bids (a step line from the best price outwards), or ""
    asks: str
    low: str  # the lowest and highest price shown, and the largest cumulative quantity
    high: str
    top: int

    @property
    def empty(self) -> bool:
        return not (self.bids or self.asks)


def depth_chart(*, bids: Sequence, asks: Sequence) -> DepthChart:
    """Cumulative units by price: ``bids`` and ``asks`` are levels (``price``, ``qty``,
    ``cumulative``, best first) as ``marketplace.market.instrument_depth`` gives them."""
    levels = [*bids, *asks]
    if not levels:
        return DepthChart("", "", "", "", 0)
    prices = [Decimal(level.price) for level in levels]
    lo, hi = min(prices), max(prices)
    span = max(hi - lo, Decimal("0.0001"))
    top = max(level.cumulative for level in levels)

    def x(price) -> str:
        return _px(PAD + (Decimal(price) - lo) / span * (W - 2 * PAD))

    def y(qty) -> str:
        return _px(Decimal(H - PAD) - Decimal(qty) / top * (H - 2 * PAD))

    def steps(side) -> str:
        if not side:
            return ""
        d = [f"M{x(side[0].price)},{y(0)}"]
        for level in side:
            d.append(f"L{x(level.price)},{y(level.cumulative - level.qty)} L{x(level.price)},{y(level.cumulative)}")
        return " ".join(d)

    return DepthChart(steps(bids), steps(asks), f"{lo:f}", f"{hi:f}", top)


@dataclass(frozen=True)
class Candle:
    x: str  # the body's left edge
    width: str
    y: str  # the body's top
    height: str
    cx: str  # the wick's x, from y_high to y_low
    y_high: str
    y_low: str
    up: bool  # closed at or above its open
    title: str


@dataclass(frozen=True)
class PriceChart:
    candles: list[Candle]
    high: str
    low: str


def price_chart(*, bars: Sequence) -> PriceChart:
    """OHLC candles, oldest on the left: ``bars`` as ``marketplace.market.instrument_ohlcv``
    gives them (``start`` a local time)."""
    if not bars:
        return PriceChart([], "", "")
    lo = min(Decimal(b.low) for b in bars)
    hi = max(Decimal(b.high) for b in bars)
    span = max(hi - lo, Decimal("0.0001"))
    step = Decimal(W - 2 * PAD) / len(bars)

    def y(price) -> Decimal:
        return Decimal(H - PAD) - (Decimal(price) - lo) / span * (H - 2 * PAD)

    candles = []
    for i, b in enumerate(bars):
        cx = PAD + step * (i + Decimal("0.5"))
        top = min(y(b.open), y(b.close))
        height = max(abs(y(b.open) - y(b.close)), Decimal(1))
        half = max(step * Decimal("0.3"), Decimal(1))
        candles.append(
            Candle(
                x=_px(cx - half), width=_px(max(step * Decimal("0.6"), Decimal(2))), y=_px(top), height=_px(height),
                cx=_px(cx), y_high=_px(y(b.high)), y_low=_px(y(b.low)), up=Decimal(b.close) >= Decimal(b.open),
                title=f"{b.start:%m-%d %H:%M}  O {b.open} H {b.high} L {b.low} C {b.close} · {b.volume}",
            )
        )  # fmt: skip
    return PriceChart(candles, f"{hi:f}", f"{lo:f}")
