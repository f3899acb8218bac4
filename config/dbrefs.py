"""References checked once per INSERT statement by a trigger function of the table's own, with
its queries written out (static SQL), for the migrations that install them.

catalog 0003 and marketplace 0007 replaced the foreign keys of the tables the matching worker
writes thousands of rows into (capacity commitments, trades, contracts, contract legs) by one
generic function, ``refs_check_statement``, told its columns by trigger arguments. Being generic,
it builds each check as text and runs it with ``EXECUTE``, which parses and plans it again on
every statement: about 60 µs of the server's CPU per reference, 300 µs for a trade's five, paid
by every small batch (a matching run of a few orders, a single sell order's commitment). A
function of the table's own runs the same anti-joins as static SQL, whose plans PL/pgSQL keeps
for the session: measured on a one-row INSERT with three references, 180 → 37 µs of server CPU
(a foreign key: 33 µs). Same checks, same error (SQLSTATE 23503) and message; the generic
function stays for the row-level checks of updates.

Used only by migrations: what a migration installed stays installed whatever this module later
becomes, so change it only together with a new migration."""


def statement_check(table: str, keys: list[tuple[str, str, str]], *, replacing: bool = True) -> tuple[str, str]:
    """The DDL (forward, backward) that has ``table``'s INSERT statements check ``keys`` —
    (column, referenced table, referenced column), identifiers of our own, no input — with a
    function of its own: in place of ``refs_check_statement`` and back to it, or (``replacing``
    False) on a table that had foreign keys instead, and back to none."""
    checks = "\n".join(
        f"""    SELECT r.k::text INTO missing FROM (SELECT DISTINCT {column} AS k FROM new_rows) AS r
    WHERE r.k IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {target} AS p WHERE p.{target_column} = r.k) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION '%.% = % refers to no row of %', TG_TABLE_NAME, '{column}', missing, '{target}'
            USING ERRCODE = 'foreign_key_violation';
    END IF;"""  # noqa: S608 (identifiers of our own)
        for column, target, target_column in keys
    )
    trigger = (f"CREATE TRIGGER {table}_refs AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION")  # fmt: skip
    args = ", ".join(f"'{name}'" for key in keys for name in key)
    drop = f"DROP TRIGGER {table}_refs ON {table};"
    forward = f"""
CREATE FUNCTION {table}_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
{checks}
    RETURN NULL;
END $$;
{drop if replacing else ""}
{trigger} {table}_refs_check();
"""
    generic = f"{trigger} refs_check_statement({args});" if replacing else ""
    backward = f"""
{drop}
{generic}
DROP FUNCTION {table}_refs_check();
"""
    return forward, backward


def run_on_postgresql(schema_editor, sql: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


def postgresql_sql(*, forward: str, backward: str):
    """A migration operation that runs ``forward`` (and, reversed, ``backward``) on PostgreSQL
    and nothing elsewhere: for storage settings SQLite does not have (a table's fillfactor)."""
    from django.db import migrations

    return migrations.RunPython(
        lambda apps, schema_editor: run_on_postgresql(schema_editor, forward),
        lambda apps, schema_editor: run_on_postgresql(schema_editor, backward),
        elidable=False,
    )
