"""The price band of an instrument in prices (the engine works in whole ticks)."""

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from marketplace.engine.book import BAND_HIGH, BAND_LOW
from marketplace.models import Instrument


def _on_tick(instrument: Instrument, factor: Decimal, rounding) -> Decimal:
    ticks = (factor * instrument.reference_price / instrument.tick).to_integral_value(rounding)
    return (ticks * instrument.tick).quantize(instrument.tick.normalize())


def band_low_price(instrument: Instrument) -> Decimal:
    return _on_tick(instrument, BAND_LOW, ROUND_CEILING)


def band_high_price(instrument: Instrument) -> Decimal:
    """The highest price a market buy can pay: the top of the band, on the tick."""
    return _on_tick(instrument, BAND_HIGH, ROUND_FLOOR)
