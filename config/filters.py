"""Query-string filters the API's list endpoints share."""

from datetime import UTC

from django.core.exceptions import ValidationError
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time with any offset Python reads, given on as UTC. PostgreSQL refuses an offset
    beyond ±15:59 (Python reads up to ±23:59), which it would answer with an error, not a refusal;
    a time that UTC cannot hold (the calendar's first or last hours) is refused as unreadable."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # as a time that does not parse
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class TimeFilter(filters.IsoDateTimeFilter):
    """``since``/``until``-style filters: ISO 8601, with an offset (or the exchange's time zone)."""

    field_class = UtcIsoDateTimeField
