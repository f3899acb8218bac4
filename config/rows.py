"""Reading and writing rows on the hottest path (order entry) without the ORM's per-query and
per-row work: compiling a query costs a few hundred microseconds of Python, more than the query
itself, and building a model instance per written row more than writing it.

``select_models`` reads instances of a model with a WHERE clause written in SQL; ``rows_by``
reads plain tuples of the rows whose key is among many values.

Building a model instance per written row and asking every field to prepare its value costs
more than the write at order entry's and matching's rates. Here the caller gives the columns by
attribute name and rows of values already of the columns' Python types (int, str, Decimal, aware
datetime, None): ``insert_rows`` with keys drawn beforehand by ``ids_reserve`` (so rows that
refer to each other can be written in any order), or ``rows_insert``, which fills left-out
fields with their defaults and can draw the keys itself. On PostgreSQL the rows go by COPY (a
few by one INSERT); elsewhere as raw inserts. Constraints and triggers apply as for any insert.

A single order's acceptance is a handful of such statements, each a round trip whose fixed cost
(psycopg's and PostgreSQL's per statement) outweighs its work. Within ``statements_joined()`` on
PostgreSQL, a write that returns nothing (``insert_rows`` by INSERT, ``config.bulk.rows_update``)
is held back and sent with the next ``joined_fetch`` — one round trip, one simple-protocol
query of several statements — and keys drawn ahead with another statement (``ids_draw_sql``,
``ids_keep``) are taken by the next ``ids_reserve`` of their table. Nothing in the block may read
what a held-back write writes before ``joined_fetch``; what is still held back when the block
ends is sent then. A COPY (``insert_rows`` of many rows) sends what is held back first, so rows
reach the database in the order they were written.

Within ``config.copies.copies_unawaited()`` a COPY returns once its rows are sent, its result
read before the next statement."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg
from django.db import connections, router
from django.db.models import DateTimeField
from django.utils import timezone

from config.copies import UnawaitedWriter, copy_await, idle_run, send_rest

COPY_FROM = 8  # rows; fewer go by one INSERT


def select_models(model, where: str, params: list, *, order_by: str = "", lock: bool = False) -> list:
    """Instances of ``model`` from ``SELECT <its columns> FROM <its table> WHERE <where>``
    (column names and ``%s`` placeholders; ``order_by`` likewise), ``lock``: each row locked FOR
    NO KEY UPDATE where the database locks rows (as ``select_for_update(no_key=True)``)."""
    alias = router.db_for_write(model) if lock else router.db_for_read(model)
    connection = connections[alias]
    meta = model._meta
    fields = meta.concrete_fields
    qn = connection.ops.quote_name
    sql = f"SELECT {', '.join(qn(f.column) for f in fields)} FROM {qn(meta.db_table)} WHERE {where}"  # noqa: S608
    if order_by:
        sql += f" ORDER BY {order_by}"
    if lock and connection.features.has_select_for_update:
        sql += " FOR NO KEY UPDATE" if connection.features.has_select_for_no_key_update else " FOR UPDATE"
    if connection.vendor != "postgresql":  # values need the fields' converters (SQLite: text times)
        return list(model.objects.db_manager(alias).raw(sql, params))
    names = [f.attname for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [model.from_db(alias, names, row) for row in cursor.fetchall()]


class RowsLater:
    """A query's rows, made from its result when asked (``rows_later``): all at once by calling
    it, or ``fetch(size)`` at a time."""

    def __init__(self, cursor):
        self._cursor, self._rows, self._done = cursor, [], False

    def fetch(self, size: int | None = None) -> bool:
        """Make up to ``size`` more rows (all that are left without); whether all are made."""
        if not self._done:
            try:
                more = self._cursor.fetchall() if size is None else self._cursor.fetchmany(size)
            except BaseException:
                self._cursor.close()
                raise
            self._rows.extend(more)
            if size is None or len(more) < size:
                self._done = True
                self._cursor.close()
        return self._done

    def __call__(self) -> list[tuple]:
        self.fetch()
        return self._rows


def rows_later(model, sql: str, params: list) -> RowsLater:
    """Run ``sql`` on ``model``'s connection now; its rows are made when asked. The result is on
    this side once the query returns: making its rows (a few microseconds a row of this process's
    time, the connection not used) can wait until this process has nothing else to do (the
    matching worker reads its next batch so, while it still writes one). Raw rows: PostgreSQL's
    types as psycopg gives them."""
    cursor = connections[router.db_for_read(model)].cursor()
    try:
        cursor.execute(sql, params)
    except BaseException:
        cursor.close()
        raise
    return RowsLater(cursor)


def rows_by(
    model, fields: tuple[str, ...], key: str, values: list, *, open_only: str = "", lock: bool = False
) -> list[tuple]:
    """``fields`` (attribute names, "pk" for the primary key) of the rows whose ``key`` column is
    among ``values``, in primary-key order; ``open_only`` names a column that must be NULL;
    ``lock``: each row locked FOR NO KEY UPDATE. On PostgreSQL one plain query with the values as
    one array (the matching worker reads this way every few tens of milliseconds under load, and
    compiling the ORM's query cost more than running it); elsewhere through the ORM, whose
    converters give the columns' Python types."""
    connection = connections[router.db_for_write(model) if lock else router.db_for_read(model)]
    if connection.vendor != "postgresql":
        rows = model.objects.filter(**{f"{key}__in": values})
        if open_only:
            rows = rows.filter(**{f"{open_only}__isnull": True})
        if lock:
            rows = rows.select_for_update(of=("self",), no_key=True)
        return list(rows.order_by("pk").values_list(*fields))
    meta, qn = model._meta, connection.ops.quote_name
    columns = ", ".join(qn(meta.pk.column if f == "pk" else meta.get_field(f).column) for f in fields)
    array = next(f for f in meta.concrete_fields if f.column == key).cast_db_type(connection)
    # the values as one array literal: psycopg would dump a list element by element (strings
    # each tested for quoting: about 2 µs a source here, a tenth of that as one literal)
    sql = f"SELECT {columns} FROM {qn(meta.db_table)} WHERE {qn(key)} = ANY(%s::{array}[])"  # noqa: S608 (model metadata)
    if open_only:
        sql += f" AND {qn(meta.get_field(open_only).column)} IS NULL"
    sql += f" ORDER BY {qn(meta.pk.column)}" + (" FOR NO KEY UPDATE" if lock else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, [array_literal(values)])
        return cursor.fetchall()


@contextmanager
def statements_joined(model):
    """Hold back writes on ``model``'s database until the next ``joined_fetch`` (PostgreSQL with
    psycopg's client-side binding, the default; a no-op elsewhere). Not nested: an inner block
    joins the outer one."""
    connection = connections[router.db_for_write(model)]
    if (
        connection.vendor != "postgresql"
        or connection.settings_dict["OPTIONS"].get("server_side_binding")  # one statement a query
        or connection.__dict__.get("_held_writes") is not None
    ):
        yield
        return
    connection._held_writes, connection._kept_ids = [], {}
    try:
        yield
        joined_fetch(model)
    finally:
        connection._held_writes = connection._kept_ids = None


def held_write(connection, sql: str, params: list) -> bool:
    """Hold back a write that returns nothing if ``statements_joined`` is on: whether it did."""
    held = connection.__dict__.get("_held_writes")
    if held is None:
        return False
    held.append((sql, params))
    return True


def joined_fetch(model, sql: str | None = None, params: tuple | list = ()) -> list[tuple]:
    """Run the writes held back, then ``sql`` (if any), in one round trip; the rows ``sql``
    returns. Without ``statements_joined``, ``sql`` alone."""
    connection = connections[router.db_for_write(model)]
    held = connection.__dict__.get("_held_writes") or []
    if not held:
        if not sql:
            return []
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    statements = [*held, (sql, params)] if sql else list(held)
    held.clear()
    with connection.cursor() as cursor:
        # each statement merged with its values on its own (psycopg keeps the parsing of a
        # statement of at most 50 values; the joined text would be parsed every time)
        cursor.execute("; ".join(cursor.cursor.mogrify(s, p) for s, p in statements))
        if not sql:
            return []
        while cursor.cursor.nextset():  # to the last statement's result
            pass
        return cursor.fetchall()


def joined_send(model, meanwhile: Iterator[None] | None = None) -> None:
    """Send the writes held back (``statements_joined``) and take the steps of ``meanwhile`` while
    the database runs them; return when both are done, raising the writes' errors as Django's. The
    statements go through one psycopg pipeline, each sent without waiting for the last, so the
    database works on its core while this process works on its own (matching applies the next
    batch while this one's last updates run). What the socket does not take at once is sent
    between steps: the database would otherwise wait for the rest of a statement while this
    process works. Without held writes, or elsewhere, the steps alone."""
    connection = connections[router.db_for_write(model)]
    held = connection.__dict__.get("_held_writes")
    steps = meanwhile if meanwhile is not None else iter(())
    if not held:
        idle_run(steps)
        return
    statements = list(held)
    held.clear()
    copy_await(connection)
    pg = connection.connection
    with connection.wrap_database_errors, pg.pipeline():
        cursor = psycopg.Cursor(pg)  # values bound by the server: Django's cursors would quote them into the text
        for sql, params in statements:
            cursor.execute(sql, params)
        pgconn = pg.pgconn
        pgconn.send_flush_request()  # the server starts now, not when the results are asked for
        send_rest(pgconn, steps)  # the rest as the socket takes it, a step of our own between
        idle_run(steps)


def ids_draw_sql(model) -> str | None:
    """Within ``statements_joined`` (so on PostgreSQL), an expression that draws one new key of
    ``model``, to add to a query run anyway (give what it draws to ``ids_keep``); else None."""
    connection = connections[router.db_for_write(model)]
    if connection.__dict__.get("_kept_ids") is None:
        return None
    return f"nextval('{_serial_sequence(model, connection)}'::regclass)"


def ids_keep(model, ids: list[int]) -> None:
    """Keys drawn with ``ids_draw_sql``: the next ``ids_reserve`` of as many keys of ``model``
    within ``statements_joined`` takes them instead of drawing."""
    connection = connections[router.db_for_write(model)]
    kept = connection.__dict__.get("_kept_ids")
    if kept is not None:
        kept[model._meta.db_table] = list(ids)


def _serial_sequence(model, connection) -> str:
    # the sequence's name looked up once per connection: pg_get_serial_sequence per key cost
    # PostgreSQL several times the nextval
    meta = model._meta
    names = connection.__dict__.setdefault("_serial_sequences", {})
    name = names.get(meta.db_table)
    if name is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [meta.db_table, meta.pk.column])
            name = names[meta.db_table] = cursor.fetchone()[0]
    return name


def array_literal(values) -> str:
    """PostgreSQL's text form of an array of ints, decimals, strings, aware datetimes or None:
    one string parameter for the whole column. psycopg would dump a list element by element,
    testing each string against a regular expression; this is a join."""
    if all(v.__class__ is int for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    parts, when, stamp = [], None, ""
    for v in values:
        if v is None:
            parts.append("NULL")
        elif isinstance(v, str):
            parts.append('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif isinstance(v, datetime):
            if v is not when:  # a column often repeats one time (updated_at)
                when, stamp = v, '"' + v.isoformat() + '"'
            parts.append(stamp)
        else:  # int, Decimal
            parts.append(str(v))
    return "{" + ",".join(parts) + "}"


def placeholders(values) -> str:
    """``%s, %s, …``, one per value (for ``IN (…)``)."""
    return ", ".join(["%s"] * len(values))


def ids_reserve(model, n: int) -> list[int]:
    """``n`` new primary keys for ``model``'s table, in increasing order.

    PostgreSQL draws them from the table's sequence (never handed out twice, even if this
    transaction rolls back). Elsewhere (SQLite, which serialises writers) they follow the highest
    key in the table; two connections racing there fail on the key's uniqueness, not silently."""
    if n <= 0:
        return []
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    if connection.vendor == "postgresql":
        kept = (connection.__dict__.get("_kept_ids") or {}).get(meta.db_table)
        if kept is not None and len(kept) == n:
            del connection._kept_ids[meta.db_table]
            return kept
        name = _serial_sequence(model, connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if n == 1:
                cursor.execute("SELECT nextval(%s::regclass)", [name])
                return [cursor.fetchone()[0]]
            cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [name, n])
            return sorted(row[0] for row in cursor.fetchall())
        qn = connection.ops.quote_name
        cursor.execute(f"SELECT MAX({qn(meta.pk.column)}) FROM {qn(meta.db_table)}")  # noqa: S608 (model metadata)
        top = cursor.fetchone()[0] or 0
    return list(range(top + 1, top + n + 1))


def insert_rows(model, fields: list[str], rows: list[tuple]) -> None:
    """Insert ``rows`` (tuples in the order of ``fields``, attribute names such as
    ``organisation_id``; the primary key among them) into ``model``'s table."""
    if not rows:
        return
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    if connection.vendor != "postgresql":
        # what bulk_create does, but raw (as loaddata saves): the values as given, even those
        # of auto_now fields, which bulk_create would stamp again
        objs = [model(**dict(zip(fields, row, strict=True))) for row in rows]
        columns = [meta.get_field(name) for name in fields]
        size = max(connection.ops.bulk_batch_size(columns, objs), 1)
        for start in range(0, len(objs), size):
            model._base_manager._insert(objs[start : start + size], fields=columns, raw=True, using=alias)
        return
    columns = ", ".join(connection.ops.quote_name(meta.get_field(name).column) for name in fields)
    table = connection.ops.quote_name(meta.db_table)
    if len(rows) < COPY_FROM:
        values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(rows))
        sql, params = f"INSERT INTO {table} ({columns}) VALUES {values}", [v for row in rows for v in row]  # noqa: S608
        if not held_write(connection, sql, params):
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
        return
    if connection.__dict__.get("_held_writes"):  # within statements_joined: what came first goes first
        joined_fetch(model)  # (rows held back may be what these refer to, or what they replace)
    stamps = [i for i, name in enumerate(fields) if isinstance(meta.get_field(name), DateTimeField)]
    if stamps:
        rows = _times_as_text(rows, stamps)
    unawaited = connection.__dict__.get("_copy_unawaited")
    copy_await(connection)
    with connection.cursor() as cursor:
        # psycopg's own cursor (Django's has no COPY): its errors wrapped as Django's, as for
        # any statement (a unique or check violation is an IntegrityError)
        writer = None if unawaited is None else UnawaitedWriter(cursor.cursor, connection)
        sql = f"COPY {table} ({columns}) FROM STDIN"
        with connection.wrap_database_errors, cursor.cursor.copy(sql, writer=writer) as copy:
            for row in rows:
                copy.write_row(row)


def _times_as_text(rows: list[tuple], positions: list[int]) -> list[list]:
    """The rows with their datetimes (at ``positions``) as ISO 8601 text, each distinct value
    formatted once: psycopg formats every aware datetime it copies (about 1.3 µs each here, more
    than the rest of a row), and a batch's rows repeat a few times (its clock, a window's start
    and end) many times over."""
    text: dict = {None: None}
    out = []
    for row in rows:
        row = list(row)
        for i in positions:
            value = row[i]
            try:
                row[i] = text[value]
            except KeyError:
                row[i] = text[value] = value.isoformat()
        out.append(row)
    return out


def rows_insert(model, fields: list[str], rows: list[tuple], *, keys: bool = False) -> list[int] | None:
    """Insert ``rows`` (one value per field of ``fields``, attnames) into ``model``'s table; with
    ``keys`` the primary keys are drawn first (``ids_reserve``) and returned in row order, else
    the table's default gives them. A field left out gets its model default (or, for
    ``auto_now``/``auto_now_add``, the time), the same for every row."""
    if not rows:
        return [] if keys else None
    meta = model._meta
    given = set(fields)
    missing = [f for f in meta.concrete_fields if not f.primary_key and f.attname not in given]
    if missing:
        now = timezone.now()
        extra = tuple(now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default()
                      for f in missing)  # fmt: skip
        fields = [*fields, *(f.attname for f in missing)]
        rows = [(*row, *extra) for row in rows]
    if not keys:
        insert_rows(model, fields, rows)
        return None
    ids = ids_reserve(model, len(rows))
    insert_rows(model, [meta.pk.attname, *fields], [(key, *row) for key, row in zip(ids, rows, strict=True)])
    return ids
