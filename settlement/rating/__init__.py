"""The rating engine (trading standard §6 charges, §7 time of use, §11 VAT, Appendix A rating
cases): turns reservations and usage records into invoice lines. Pure Python, no Django import,
exact arithmetic (Decimal at the edges, integers and Fraction inside), so it can be tested
exhaustively, benchmarked and re-run offline; settlement's services and the ``rate`` command are
its adapters.

- per time: ``time_lines(product=, reservations=, period=)``;
- per volume: ``volume_lines(product=, records=, tariff=, period=)``, or, streaming,
  ``VolumeUsage(tariff=, period=)`` fed ``(start µs, end µs, quantity)`` rows then ``.lines(product=)``,
  or ``volume_lines_from_blocks`` on usage already summed by time-of-use block;
- ``rating_total(lines=, tax_rate=)`` for subtotal, VAT and total over any lines;
- rating cases: ``case_loads``/``case_read`` (checked), ``case_rate``, ``case_write``/``case_dumps``.
"""

from settlement.rating.case import RatingCase, case_dumps, case_loads, case_rate, case_read, case_write
from settlement.rating.checks import CaseError, Problem, records_check, reservations_check
from settlement.rating.inputs import (
    GPU_SECONDS,
    LOCAL,
    PER_TIME,
    PER_VOLUME,
    TOU_MULTIPLIERS,
    VCPU_SECONDS,
    VOLUME_TIERS,
    Period,
    Product,
    Reservation,
    Tariff,
    UsageRecord,
    VolumeTier,
    instant_datetime,
    instant_us,
    period_parse,
    tariff_make,
)
from settlement.rating.lines import Rating, TimeLine, VolumeLine, line_json, rating_json, rating_total, round_half_up
from settlement.rating.per_time import time_line, time_lines, time_minutes
from settlement.rating.per_volume import VolumeUsage, volume_lines, volume_lines_from_blocks
from settlement.rating.reference import reference_meters, reference_tariffs

__all__ = [
    "GPU_SECONDS",
    "LOCAL",
    "PER_TIME",
    "PER_VOLUME",
    "TOU_MULTIPLIERS",
    "VCPU_SECONDS",
    "VOLUME_TIERS",
    "CaseError",
    "Period",
    "Problem",
    "Product",
    "Rating",
    "RatingCase",
    "Reservation",
    "Tariff",
    "TimeLine",
    "UsageRecord",
    "VolumeLine",
    "VolumeTier",
    "VolumeUsage",
    "case_dumps",
    "case_loads",
    "case_rate",
    "case_read",
    "case_write",
    "instant_datetime",
    "instant_us",
    "line_json",
    "period_parse",
    "rating_json",
    "rating_total",
    "records_check",
    "reference_meters",
    "reference_tariffs",
    "reservations_check",
    "round_half_up",
    "tariff_make",
    "time_line",
    "time_lines",
    "time_minutes",
    "volume_lines",
    "volume_lines_from_blocks",
]
