"""Updating many rows with different values in one statement.

Django's ``bulk_update`` builds a CASE expression per field and row, which costs more Python than
the write itself at the matching worker's batch sizes. On PostgreSQL this joins a VALUES list
instead (one statement, typed by the fields' own column types); elsewhere it falls back to
``bulk_update``."""

from django.db import connections, router


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
