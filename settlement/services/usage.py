"""Metering (trading standard §6.2): usage records from a pool's machines, taken in batches.

Each record of a batch is accepted, recognised as a repeat, or refused on its own, with a reason
code. Accepted records are stored in one transaction with a single set-based insert that is
idempotent by ``record_id`` per provider (``ON CONFLICT DO NOTHING`` on PostgreSQL): a repeat
with the same content changes nothing and answers ``duplicate``; one with other content is
refused ``conflict``. Two batches racing with one ``record_id`` meet at the unique constraint,
and the later one compares against what the first committed.

What a record must satisfy, beyond its shape: its contract (or, for retail, its reservation) is
delivered from the key's pool and bought from the key's provider; the meter is the resource
class's; ``start < end``, both inside the delivery's time and not in the future; the quantity is
not negative and at most units × seconds (a pool cannot have used more units than it delivers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import orjson
from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Pool
from config.errors import ExchangeError
from settlement.models import UsageRecord

MAX_BATCH = 1000
RECORD_ID_MAX = 100
QUANTITY_PLACES = 6
_QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)
CLOCK_SKEW = timedelta(minutes=5)  # a machine's clock may run this far ahead of ours
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"


@dataclass(frozen=True, slots=True)
class UsageIn:
    record_id: str
    contract: int | None
    reservation: int | None
    meter: str
    quantity: Decimal
    start: datetime
    end: datetime


@dataclass(slots=True)
class UsageResult:
    record_id: str | None
    status: str
    error: ExchangeError | None = None


@dataclass(frozen=True, slots=True)
class _Delivery:
    """What a record may be for: one pool's part of a contract, or a retail reservation."""

    buyer_id: int
    meter: str
    units: int
    start: datetime
    end: datetime


def _refuse(field: str, code: str, detail: str) -> ExchangeError:
    return ExchangeError.on_field(field, code, detail)


def _instant(raw, field: str) -> datetime:
    if not isinstance(raw, str):
        raise _refuse(field, "invalid", "An ISO 8601 date-time with a time zone, e.g. 2026-12-01T00:00:00Z.")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise _refuse(field, "invalid", "An ISO 8601 date-time with a time zone, e.g. 2026-12-01T00:00:00Z.") from None
    if value.tzinfo is None:
        raise _refuse(field, "invalid", "Give the time zone (Z or an offset such as +08:00).")
    return value.astimezone(UTC)


def _quantity(raw) -> Decimal:
    # Floats never touch quantities: the API's parser reads JSON numbers as Decimal.
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise _refuse("quantity", "invalid", 'A decimal number in the meter\'s unit-seconds, e.g. "28800".')
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _refuse("quantity", "invalid", 'A decimal number in the meter\'s unit-seconds, e.g. "28800".') from None
    if not value.is_finite():
        raise _refuse("quantity", "invalid", "A finite decimal number.")
    if value < 0:
        raise _refuse("quantity", "min_value", "A quantity cannot be negative.")
    if value.adjusted() >= 24 - QUANTITY_PLACES:
        raise _refuse("quantity", "max_digits", "The quantity is too large.")
    if value.as_tuple().exponent < -QUANTITY_PLACES and value != value.quantize(_QUANTUM):
        raise _refuse("quantity", "max_decimal_places", f"At most {QUANTITY_PLACES} decimal places.")
    return value


def usage_parse(raw) -> UsageIn:
    """One record's terms from its JSON object, or the first thing wrong with it."""
    if not isinstance(raw, dict):
        raise ExchangeError("A usage record is a JSON object.", code="invalid")
    record_id = raw.get("record_id")
    if not isinstance(record_id, str) or not record_id.strip():
        raise _refuse("record_id", "required", "Your unique id of this record.")
    if len(record_id) > RECORD_ID_MAX:
        raise _refuse("record_id", "max_length", f"At most {RECORD_ID_MAX} characters.")
    contract, reservation = raw.get("contract"), raw.get("reservation")
    if (contract is None) == (reservation is None):
        raise _refuse("contract", "required", "Name one delivery: a contract or a reservation (its id).")
    for name, value in (("contract", contract), ("reservation", reservation)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _refuse(name, "invalid", "An id (an integer).")
    meter = raw.get("meter")
    if not isinstance(meter, str) or not meter:
        raise _refuse("meter", "required", "gpu_seconds or vcpu_seconds, as the resource class meters.")
    quantity = _quantity(raw.get("quantity"))
    start, end = _instant(raw.get("start"), "start"), _instant(raw.get("end"), "end")
    if end <= start:
        raise _refuse("end", "bad_interval", "The end must be after the start.")
    return UsageIn(record_id, contract, reservation, meter, quantity, start, end)


def _deliveries(*, pool: Pool, records: list[UsageIn]) -> dict[tuple[str, int], _Delivery]:
    """What the batch's records name and the pool delivers: the contracts it has a leg of (with
    the units it delivers) and the reservations on its provider's listings on this pool."""
    from marketplace.models import ContractLeg  # marketplace builds on settlement, not the reverse
    from marketplace.selectors import reservation_for_usage

    contract_ids = {r.contract for r in records if r.contract is not None}
    out: dict[tuple[str, int], _Delivery] = {}
    for reservation_id in {r.reservation for r in records if r.reservation is not None}:
        window = reservation_for_usage(provider=pool.provider, reservation_id=reservation_id)
        if window is not None and window.pool_id == pool.pk:
            out[("reservation", reservation_id)] = _Delivery(
                window.buyer_id, window.meter, window.units, window.start, window.end
            )

    legs = (
        ContractLeg.objects.filter(pool=pool, contract_id__in=contract_ids)
        .select_related("contract__instrument__resource_class")
        .only(
            "units",
            "contract__holder_id",
            "contract__qty",
            "contract__resold",
            "contract__instrument__window_start",
            "contract__instrument__window_end",
            "contract__instrument__resource_class__meter",
        )
    )
    for leg in legs:
        c, i = leg.contract, leg.contract.instrument
        out[("contract", leg.contract_id)] = _Delivery(
            c.holder_id, i.resource_class.meter, min(leg.units, c.qty - c.resold), i.window_start, i.window_end
        )
    return out


def _delivery_key(record: UsageIn) -> tuple[str, int]:
    return ("contract", record.contract) if record.contract is not None else ("reservation", record.reservation)


def _check(record: UsageIn, delivery: _Delivery | None, now: datetime) -> None:
    field = _delivery_key(record)[0]
    if delivery is None:
        raise _refuse(field, "not_found", f"No {field} of yours delivered from this pool has this id.")
    if record.meter != delivery.meter:
        raise _refuse("meter", "wrong_meter", f"This resource class is metered in {delivery.meter}.")
    if record.start < delivery.start or record.end > delivery.end:
        raise _refuse("start", "outside_delivery", f"The record must lie inside the {field}'s time.")
    if record.end > now + CLOCK_SKEW:
        raise _refuse("end", "in_future", "Usage can only be reported for time that has passed.")
    seconds = Decimal((record.end - record.start) // timedelta(microseconds=1)) / 1_000_000
    if record.quantity > delivery.units * seconds:
        raise _refuse(
            "quantity", "exceeds_units", f"More than {delivery.units} units for the record's {seconds} seconds."
        )


def _same(record: UsageIn, pool_id: int, row: tuple) -> bool:
    return row == (
        pool_id,
        record.contract,
        record.reservation,
        record.meter,
        record.quantity,
        record.start,
        record.end,
    )


_CONFLICT = "This record_id was already reported with other content."


def usage_ingest(*, pool: Pool, records: list, now: datetime | None = None) -> list[UsageResult]:
    """Take a batch of raw usage records (JSON objects) for ``pool``; one result per record."""
    if not isinstance(records, list) or not records:
        raise ExchangeError.on_field("records", "required", "A list of 1 to 1,000 usage records.")
    if len(records) > MAX_BATCH:
        raise ExchangeError.on_field("records", "max_length", f"At most {MAX_BATCH:,} records per batch.")
    now = now or timezone.now()
    results: list[UsageResult] = []
    parsed: list[tuple[int, UsageIn]] = []
    for index, raw in enumerate(records):
        record_id = raw.get("record_id") if isinstance(raw, dict) else None
        try:
            parsed.append((index, usage_parse(raw)))
            results.append(UsageResult(record_id, ACCEPTED))
        except ExchangeError as exc:
            results.append(UsageResult(record_id if isinstance(record_id, str) else None, REJECTED, exc))
    deliveries = _deliveries(pool=pool, records=[r for _, r in parsed])
    fresh: dict[str, tuple[int, UsageIn]] = {}  # record_id → the first valid record of the batch with it
    for index, record in parsed:
        try:
            _check(record, deliveries.get(_delivery_key(record)), now)
        except ExchangeError as exc:
            results[index].status, results[index].error = REJECTED, exc
            continue
        first = fresh.get(record.record_id)
        if first is None:
            fresh[record.record_id] = (index, record)
        elif first[1] == record:
            results[index].status = DUPLICATE
        else:
            results[index].status, results[index].error = REJECTED, ExchangeError(_CONFLICT, code="conflict")
    if not fresh:
        return results
    with transaction.atomic():
        rows = [(r, deliveries[_delivery_key(r)].buyer_id) for _, r in fresh.values()]
        inserted = _insert(pool=pool, rows=rows, now=now)
        if len(inserted) < len(fresh):
            stored = dict(_stored(provider_id=pool.provider_id, record_ids=[k for k in fresh if k not in inserted]))
            for record_id, (index, record) in fresh.items():
                if record_id in inserted:
                    continue
                if _same(record, pool.pk, stored[record_id]):
                    results[index].status = DUPLICATE
                else:
                    results[index].status, results[index].error = REJECTED, ExchangeError(_CONFLICT, code="conflict")
    return results


def _insert(*, pool: Pool, rows: list[tuple[UsageIn, int]], now: datetime) -> set[str]:
    """Insert the rows whose record_id is new for the provider; the record_ids inserted."""
    if connection.vendor == "postgresql":
        # The rows travel as one JSON document: psycopg's literal arrays cost more than the insert.
        # They are inserted in record_id order, so two batches racing with the same ids wait for
        # each other in one order and never deadlock.
        payload = orjson.dumps(
            [(r.record_id, r.contract, r.reservation, b, r.meter, str(r.quantity), r.start, r.end) for r, b in rows]
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO settlement_usagerecord (provider_id, pool_id, received_at, record_id, contract_id,"
                ' reservation_id, buyer_id, meter, quantity, start, "end")'
                " SELECT %s, %s, %s, e->>0, (e->>1)::bigint, (e->>2)::bigint, (e->>3)::bigint, e->>4,"
                " (e->>5)::numeric, (e->>6)::timestamptz, (e->>7)::timestamptz"
                " FROM jsonb_array_elements(%s::jsonb) AS e ORDER BY e->>0"
                " ON CONFLICT (provider_id, record_id) DO NOTHING RETURNING record_id",
                [pool.provider_id, pool.pk, now, payload.decode()],
            )
            return {row[0] for row in cursor.fetchall()}
    # SQLite: one writer at a time, so what is not stored yet can be inserted as it is
    taken = set(
        UsageRecord.objects.filter(
            provider_id=pool.provider_id, record_id__in=[r.record_id for r, _ in rows]
        ).values_list("record_id", flat=True)
    )
    new = [
        UsageRecord(
            provider_id=pool.provider_id,
            pool_id=pool.pk,
            received_at=now,
            record_id=r.record_id,
            contract_id=r.contract,
            reservation_id=r.reservation,
            buyer_id=buyer,
            meter=r.meter,
            quantity=r.quantity,
            start=r.start,
            end=r.end,
        )
        for r, buyer in rows
        if r.record_id not in taken
    ]
    UsageRecord.objects.bulk_create(new)
    return {u.record_id for u in new}


def _stored(*, provider_id: int, record_ids: list[str]):
    return (
        (row[0], row[1:])
        for row in UsageRecord.objects.filter(provider_id=provider_id, record_id__in=record_ids).values_list(
            "record_id", "pool_id", "contract_id", "reservation_id", "meter", "quantity", "start", "end"
        )
    )
