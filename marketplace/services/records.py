"""The records of the orders matching works on: an order's state and fills, a sell's
allocations, as plain objects (a model instance costs more to load than the matching of it), kept
from batch to batch (``OrderRecords``)."""

from django.db import connections, router

from config.rows import RowsLater, rows_by, rows_later
from marketplace.models import Order, OrderAllocation, Side

SELL = Side.SELL.value


class OrderRecord:
    """The fields of an order that matching reads and changes."""

    FIELDS = ("pk", "organisation_id", "side", "type", "tif", "price", "qty", "filled_qty", "filled_notional",
              "status", "end_reason", "hold_id")  # fmt: skip
    __slots__ = FIELDS

    def __init__(self, row):
        (self.pk, self.organisation_id, self.side, self.type, self.tif, self.price, self.qty, self.filled_qty,
         self.filled_notional, self.status, self.end_reason, self.hold_id) = row  # FIELDS, in order  # fmt: skip

    @property
    def remaining(self) -> int:
        return self.qty - self.filled_qty

    @classmethod
    def from_log(cls, row) -> "OrderRecord":
        """The order of a row of the log's batch read (``log.ORDER_COLUMNS`` + ``ORDER_STATE_COLUMNS``)."""
        pk, _, _, _, side, type_, price, qty, tif, _, organisation_id, filled, notional, status, reason, hold = row
        return cls((pk, organisation_id, side, type_, tif, price, qty, filled, notional, status, reason, hold))


class AllocationRecord:
    """Where a sell order's units come from (OrderAllocation's fields)."""

    FIELDS = ("pk", "order_id", "pool_id", "contract_id", "units", "filled", "released")
    __slots__ = FIELDS

    def __init__(self, row):
        self.pk, self.order_id, self.pool_id, self.contract_id, self.units, self.filled, self.released = row

    @property
    def open_units(self) -> int:
        return self.units - self.filled - self.released


class OrderRecords:
    """The records of the orders an instrument's matching works on, kept from batch to batch while
    the worker holds the instrument's books (``matching._Book``), dropped with them. Once accepted,
    an order's state and fills, and a sell's allocations, are written by matching alone, so what
    the last batch wrote is what the database holds: resting orders stay here, a batch's new
    orders come with the log's read of it (``intake``), an order the books held before this
    process saw it is read when first touched (``load``), and an order that ended leaves once its
    batch is written."""

    def __init__(self):
        self.orders: dict[int, OrderRecord] = {}
        self.allocations: dict[int, list[AllocationRecord]] = {}

    @staticmethod
    def allocations_later(*, instrument_id: int, after_seq: int, limit: int) -> RowsLater | None:
        """The allocations (``AllocationRecord.FIELDS``) of the sells among the instrument's next
        ``limit`` orders after ``after_seq`` — those a batch's read of the log brings — read now,
        made when asked (``config.rows.rows_later``); on PostgreSQL, else None."""
        connection = connections[router.db_for_read(OrderAllocation)]
        if connection.vendor != "postgresql":
            return None
        qn, meta = connection.ops.quote_name, OrderAllocation._meta
        columns = ", ".join(qn("id" if f == "pk" else meta.get_field(f).column) for f in AllocationRecord.FIELDS)
        orders = f"SELECT id FROM {qn(Order._meta.db_table)} WHERE instrument_id = %s AND seq > %s AND seq <= %s"  # noqa: S608
        sql = f"SELECT {columns} FROM {qn(meta.db_table)} WHERE order_id IN ({orders}) ORDER BY id"  # noqa: S608
        return rows_later(OrderAllocation, sql, [instrument_id, after_seq, after_seq + limit])  # as log's batch read

    def intake(self, rows: list[tuple]) -> set[int]:
        """New orders of a batch, from the log's read of it (``LogBatch.orders``); returns the new
        sells, whose allocations ``intake_allocations`` brings."""
        orders, allocations, sells = self.orders, self.allocations, set()
        for row in rows:
            if row[0] not in orders:
                orders[row[0]] = order = OrderRecord.from_log(row)
                if order.side == SELL:
                    sells.add(order.pk)
                    allocations[order.pk] = []
        return sells

    def intake_allocations(self, sells: set[int], rows: list[tuple] | None) -> None:
        """The allocations of new sells, as ``allocations_later`` read them (None: read them now,
        one query)."""
        if rows is None:
            self._allocations_read(sorted(sells))
            return
        for row in rows:
            if row[1] in sells:
                self.allocations[row[1]].append(AllocationRecord(row))

    def load(self, ids) -> None:
        """The orders not held yet, and their allocations, from the database (two queries)."""
        missing = [pk for pk in ids if pk not in self.orders]
        if not missing:
            return
        for row in rows_by(Order, OrderRecord.FIELDS, "id", missing):
            self.orders[row[0]] = OrderRecord(row)
        self._allocations_read([pk for pk in missing if self.orders[pk].side == SELL])

    def _allocations_read(self, sells: list[int]) -> None:
        for pk in sells:
            self.allocations[pk] = []
        if sells:
            for row in rows_by(OrderAllocation, AllocationRecord.FIELDS, "order_id", sells):
                self.allocations[row[1]].append(AllocationRecord(row))

    def drop(self, ids) -> None:
        for pk in ids:
            del self.orders[pk]
            self.allocations.pop(pk, None)
