"""The checks Appendix A makes on a case's records and reservations, on typed values so that
usage ingestion can make the same ones: a record's meter must be its class's, and an id given
twice must carry the same content (an identical repeat counts once, a different one is a
``conflict``). Each problem names the field it is about and a reason code."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from settlement.rating.inputs import Reservation, UsageRecord, instant_us


@dataclass(frozen=True)
class Problem:
    field: str  # e.g. "records[3].quantity"
    code: str  # e.g. "conflict", "wrong_meter", "end_not_after_start"
    message: str

    def __str__(self):
        return f"{self.field or 'case'}: {self.code}: {self.message}"


class CaseError(ValueError):
    """An invalid rating case (or invalid records): every problem found, none rated."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def _record_content(record: UsageRecord) -> dict:
    return {
        "meter": record.meter,
        "quantity": record.quantity,
        "start": instant_us(record.start),
        "end": instant_us(record.end),
    }


def _reservation_content(reservation: Reservation) -> dict:
    return {"units": reservation.units, "start": instant_us(reservation.start), "end": instant_us(reservation.end)}


def _unique(items, *, kind: str, key, content, field: str) -> tuple[list, list[Problem]]:
    seen: dict[str, tuple[int, dict]] = {}
    kept, problems = [], []
    for index, item in items:
        ident, values = key(item), content(item)
        if ident not in seen:
            seen[ident] = (index, values)
            kept.append(item)
            continue
        first, before = seen[ident]
        differs = next((name for name in values if values[name] != before[name]), None)
        if differs is not None:
            problems.append(
                Problem(
                    f"{field}[{index}].{differs}",
                    "conflict",
                    f"{kind} {ident!r} repeats {field}[{first}] with a different {differs}",
                )
            )
    return kept, problems


def records_problems(
    indexed: Iterable[tuple[int, UsageRecord]], *, meter: str | None, field: str = "records"
) -> tuple[list[UsageRecord], list[Problem]]:
    """The records with each id once (the first of identical repeats), and the problems:
    ``wrong_meter`` (unless ``meter`` is None: the class is unknown) and ``conflict``.
    ``indexed`` pairs each record with its place in the input, which the problems name."""
    indexed = list(indexed)
    problems = [
        Problem(f"{field}[{index}].meter", "wrong_meter", f"this class is metered in {meter}, not {record.meter}")
        for index, record in indexed
        if meter is not None and record.meter != meter
    ]
    kept, conflicts = _unique(
        indexed, kind="record_id", key=lambda r: r.record_id, content=_record_content, field=field
    )
    return kept, problems + conflicts


def records_check(records: Iterable[UsageRecord], *, meter: str) -> list[UsageRecord]:
    """Each record once, or ``CaseError`` (wrong meter, one id with different content)."""
    kept, problems = records_problems(enumerate(records), meter=meter)
    if problems:
        raise CaseError(problems)
    return kept


def reservations_problems(
    indexed: Iterable[tuple[int, Reservation]], *, field: str = "reservations"
) -> tuple[list[Reservation], list[Problem]]:
    """The reservations with each id once, and a ``conflict`` for an id repeated with
    different units or times."""
    return _unique(list(indexed), kind="id", key=lambda r: r.id, content=_reservation_content, field=field)


def reservations_check(reservations: Iterable[Reservation]) -> list[Reservation]:
    kept, problems = reservations_problems(enumerate(reservations))
    if problems:
        raise CaseError(problems)
    return kept
