"""Updating many rows with different values in one statement, and matching many values.

Django's ``bulk_update`` builds a CASE expression per field and row, and ``__in`` one parameter
per value, which cost more Python than the work itself at the matching worker's batch sizes. On
PostgreSQL ``rows_update`` joins one array per column instead and ``field__any`` sends one array;
elsewhere they fall back to ``bulk_update`` and ``__in``. Within ``config.rows.statements_joined``
``rows_update`` is held back and counts the rows given as updated. Inserting rows is ``config.rows``."""

from django.db import connections, router
from django.db.models import Field, ForeignObject, Lookup
from django.db.models.lookups import In

from config.copies import statement_unawaited
from config.rows import array_literal, held_write


class RowsUpdate:
    """An update of existing rows (``rows_update``) worked out now — on PostgreSQL its statement
    and the arrays of values, the part that costs this process — and run later (``run``), for a
    caller that has time for the one before it has the database for the other (the matching
    worker works out its last updates while a COPY is being finished)."""

    def __init__(self, model, fields: list[str], rows: list[tuple]):
        self.model, self.fields, self.rows = model, fields, rows
        self.connection = connections[router.db_for_write(model)]
        self.sql, self.params = None, None
        if not rows or self.connection.vendor != "postgresql":
            return
        meta = model._meta
        columns = [meta.pk, *(meta.get_field(name) for name in fields)]
        arrays = ", ".join(f"%s::{f.cast_db_type(self.connection)}[]" for f in columns)  # each a text array literal
        names = ", ".join(f'"{f.column}"' for f in columns)
        sets = ", ".join(f'"{f.column}" = v."{f.column}"' for f in columns[1:])
        key = meta.pk.column
        self.sql = (
            f'UPDATE "{meta.db_table}" AS t SET {sets} FROM unnest({arrays}) AS v({names}) WHERE t."{key}" = v."{key}"'  # noqa: S608
        )
        self.params = [array_literal(column) for column in zip(*rows, strict=True)]

    def run(self) -> int:
        """Run it: the number of rows updated (given, where it is held back or not awaited)."""
        connection, rows = self.connection, self.rows
        if not rows:
            return 0
        if self.sql is None:
            meta, fields = self.model._meta, self.fields
            objs = [self.model(**{meta.pk.attname: row[0], **dict(zip(fields, row[1:], strict=True))}) for row in rows]
            return self.model.objects.bulk_update(objs, fields)
        if held_write(connection, self.sql, self.params):  # within statements_joined: sent with the next statement
            return len(rows)
        if statement_unawaited(connection, self.sql, self.params):  # within copies_unawaited: its result read later
            return len(rows)
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            return cursor.rowcount


def rows_update(model, fields: list[str], rows: list[tuple]) -> int:
    """Set ``fields`` (attnames) of existing rows: each row is (primary key, *values). On
    PostgreSQL one UPDATE joined to the values passed as one array per column (a handful of
    parameters whatever the row count); elsewhere ``bulk_update``."""
    return RowsUpdate(model, fields, rows).run()


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
