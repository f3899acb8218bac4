"""Updating many rows with different values in one statement.

Django's ``bulk_update`` builds a CASE expression per field and row, which costs more Python than
the write itself at the matching worker's batch sizes. On PostgreSQL this joins a VALUES list
instead (one statement, typed by the fields' own column types); elsewhere it falls back to
``bulk_update``."""

from datetime import datetime

from django.db import connections, router
from django.db.models import Field, ForeignObject, Lookup
from django.db.models.lookups import In
from django.utils import timezone


def bulk_set(objs, fields: list[str]) -> int:
    """Write ``fields`` of every object in ``objs`` (all of one model, saved already)."""
    objs = list(objs)
    if not objs:
        return 0
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        return model.objects.bulk_update(objs, fields)
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    pk = meta.pk
    casts = [f"%s::{pk.db_type(connection)}"] + [f"%s::{f.db_type(connection)}" for f in columns]
    row = "(" + ", ".join(casts) + ")"
    sets = ", ".join(f'"{f.column}" = v."{f.column}"' for f in columns)
    names = ", ".join(f'"{c}"' for c in [pk.column, *(f.column for f in columns)])
    params = []
    for obj in objs:
        params.append(pk.get_db_prep_value(obj.pk, connection))
        params.extend(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns)
    # identifiers come from the model's own metadata, values are parameters
    values = ", ".join([row] * len(objs))
    table, key = meta.db_table, pk.column
    sql = f'UPDATE "{table}" AS t SET {sets} FROM (VALUES {values}) AS v({names}) WHERE t."{key}" = v."{key}"'  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


COPY_FROM = 8  # rows; fewer go by INSERT


def bulk_insert(objs) -> list:
    """Insert new objects of one model and give them their primary keys, like ``bulk_create``.

    On PostgreSQL the keys are drawn from the table's sequence in one query and the rows sent with
    COPY, which costs a fraction of an INSERT's parameter binding at the matching worker's batch
    sizes; triggers and constraints apply as for any insert. Elsewhere it is ``bulk_create``."""
    objs = list(objs)
    if not objs:
        return objs
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql" or len(objs) < COPY_FROM:
        return model.objects.bulk_create(objs)  # a few rows: one INSERT … RETURNING is one round trip
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objs)],
        )
        keys = [row[0] for row in cursor.fetchall()]
        columns = ", ".join(f'"{c}"' for c in [meta.pk.column, *(f.column for f in fields)])
        with cursor.cursor.copy(f'COPY "{meta.db_table}" ({columns}) FROM STDIN') as copy:
            for obj, key in zip(objs, keys, strict=True):
                obj.pk = key
                copy.write_row([key, *(f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields)])
    for obj in objs:
        obj._state.adding, obj._state.db = False, alias
    return objs


# --- rows as tuples ---------------------------------------------------------------------------
# The matching worker writes tens of thousands of rows a batch. Building a model instance per row
# and converting each field through Django costs more than PostgreSQL spends storing it, so these
# take plain tuples of Python values (what psycopg adapts: int, str, Decimal, aware datetime,
# None), named by the fields' attnames. Elsewhere (SQLite) they become instances and go through
# the ORM.


def keys_draw(model, n: int) -> list[int]:
    """``n`` new primary keys of ``model`` from its table's sequence (PostgreSQL), in one query."""
    if n == 0:
        return []
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    with connection.cursor() as cursor:
        # the sequence looked up once (materialized), not once per key: a catalog lookup per row cost
        # ten times the nextval
        cursor.execute(
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) "
            "SELECT array_agg(nextval(s.seq)) FROM s, generate_series(1, %s)",
            [meta.db_table, meta.pk.column, n],
        )
        return cursor.fetchone()[0]


def rows_insert(model, fields: list[str], rows: list[tuple], *, keys: bool = False) -> list[int] | None:
    """Insert ``rows`` (one value per field of ``fields``, attnames) into ``model``'s table.

    On PostgreSQL with COPY; with ``keys`` the primary keys are drawn first and returned (in row
    order), else the table's default gives them. A field left out gets its model default (or, for
    ``auto_now``/``auto_now_add``, the time), the same for every row. Elsewhere by ``bulk_create``
    (keys returned)."""
    if not rows:
        return [] if keys else None
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        objs = model.objects.bulk_create(model(**dict(zip(fields, row, strict=True))) for row in rows)
        return [obj.pk for obj in objs] if keys else None
    meta = model._meta
    given = set(fields)
    missing = [f for f in meta.concrete_fields if not f.primary_key and f.attname not in given]
    if missing:
        now = timezone.now()
        extra = tuple(now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default()
                      for f in missing)  # fmt: skip
        fields = [*fields, *(f.attname for f in missing)]
        rows = [(*row, *extra) for row in rows]
    columns = [meta.get_field(name).column for name in fields]
    ids = None
    if keys and len(rows) < COPY_FROM:  # a few rows: one INSERT … RETURNING is one round trip
        names = ", ".join(f'"{c}"' for c in columns)
        values = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
        sql = f'INSERT INTO "{meta.db_table}" ({names}) VALUES {values} RETURNING "{meta.pk.column}"'  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for row in rows for value in row])
            return [row[0] for row in cursor.fetchall()]
    if keys:
        ids = keys_draw(model, len(rows))
        columns = [meta.pk.column, *columns]
    names = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor, cursor.cursor.copy(f'COPY "{meta.db_table}" ({names}) FROM STDIN') as copy:
        write = copy.write_row
        if ids is None:
            for row in rows:
                write(row)
        else:
            for key, row in zip(ids, rows, strict=True):
                write((key, *row))
    return ids


def rows_update(model, fields: list[str], rows: list[tuple]) -> int:
    """Set ``fields`` (attnames) of existing rows: each row is (primary key, *values). On
    PostgreSQL one UPDATE joined to the values passed as one array per column (a handful of
    parameters whatever the row count); elsewhere ``bulk_update``."""
    if not rows:
        return 0
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    if connection.vendor != "postgresql":
        objs = [model(**{meta.pk.attname: row[0], **dict(zip(fields, row[1:], strict=True))}) for row in rows]
        return model.objects.bulk_update(objs, fields)
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in columns)  # each a text array literal
    names = ", ".join(f'"{f.column}"' for f in columns)
    sets = ", ".join(f'"{f.column}" = v."{f.column}"' for f in columns[1:])
    key = meta.pk.column
    sql = f'UPDATE "{meta.db_table}" AS t SET {sets} FROM unnest({arrays}) AS v({names}) WHERE t."{key}" = v."{key}"'  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [array_literal(column) for column in zip(*rows, strict=True)])
        return cursor.rowcount


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


class AnyOf(Lookup):
    """``field__any=[…]``: ``field = ANY(%s)`` with the values as one array parameter on
    PostgreSQL, where ``__in`` sends (and the client splices) one parameter per value — thousands
    in a matching batch. Elsewhere it is ``__in``."""

    lookup_name = "any"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql":
            return In(self.lhs, self.rhs).as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        array = f"{self.lhs.output_field.cast_db_type(connection)}[]"
        # plain values (ids, strings) as one array literal: psycopg would dump a list element by element
        return f"{lhs} = ANY(%s::{array})", (*lhs_params, array_literal(list(self.rhs)))


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # foreign keys keep lookups of their own
