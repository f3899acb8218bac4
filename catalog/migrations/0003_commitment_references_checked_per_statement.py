"""What a capacity commitment refers to, checked once per INSERT statement instead of once per row.

A foreign-key constraint runs a query per row and key (and locks the referenced row): the matching
worker writes a commitment per contract leg, thousands a batch, and order entry one per sell
order's pool. As 0014 of settlement did for postings, the constraints give way to triggers:

- ``refs_check_statement`` (after each INSERT statement, on its transition table ``new_rows``):
  for each (column, referenced table, referenced column) given, one anti-join of the statement's
  distinct keys against the referenced table; a key that refers to nothing refuses the statement
  with SQLSTATE 23503, as a foreign key would (at the statement's end rather than at COMMIT);
- ``refs_check_row`` (after an UPDATE that changes a referring column, per row): the same check
  for the new values, so an update cannot point a row at nothing either;
- ``refs_keep_referenced`` (before DELETE, or an UPDATE of the referenced column, on the
  referenced table, per row): refuses while any row refers to it. It first takes SHARE locks on
  the referring tables, so it waits for every transaction that may be inserting a referring row
  and none can start until it commits: what a foreign key's row lock guaranteed, paid by the rare
  delete instead of by every insert. (Referring inserts under REPEATABLE READ are not covered; the
  writers here run at READ COMMITTED, Django's default.)

The functions are generic, told their columns by trigger arguments, and shared with marketplace
0007 (trades, contracts, legs).
"""

import django.db.models.deletion
from django.db import migrations, models

FUNCTIONS = """
CREATE FUNCTION refs_check_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i integer := 0;
    missing text;
BEGIN
    -- arguments: (column, referenced table, referenced column) triples
    WHILE i < TG_NARGS LOOP
        EXECUTE format(
            'SELECT r.k::text FROM (SELECT DISTINCT %1$I AS k FROM new_rows) AS r WHERE r.k IS NOT NULL '
            || 'AND NOT EXISTS (SELECT 1 FROM %2$I AS p WHERE p.%3$I = r.k) LIMIT 1',
            TG_ARGV[i], TG_ARGV[i + 1], TG_ARGV[i + 2]
        ) INTO missing;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION '%.% = % refers to no row of %', TG_TABLE_NAME, TG_ARGV[i], missing, TG_ARGV[i + 1]
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        i := i + 3;
    END LOOP;
    RETURN NULL;
END $$;

CREATE FUNCTION refs_check_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i integer := 0;
    missing text;
BEGIN
    -- arguments: (column, referenced table, referenced column) triples
    WHILE i < TG_NARGS LOOP
        EXECUTE format(
            'SELECT ($1).%1$I::text WHERE ($1).%1$I IS NOT NULL '
            || 'AND NOT EXISTS (SELECT 1 FROM %2$I AS p WHERE p.%3$I = ($1).%1$I)',
            TG_ARGV[i], TG_ARGV[i + 1], TG_ARGV[i + 2]
        ) INTO missing USING NEW;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION '%.% = % refers to no row of %', TG_TABLE_NAME, TG_ARGV[i], missing, TG_ARGV[i + 1]
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        i := i + 3;
    END LOOP;
    RETURN NULL;
END $$;

CREATE FUNCTION refs_keep_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i integer := 1;
    same boolean;
    referred boolean;
BEGIN
    -- arguments: the referenced column, then (referring table, its column) pairs
    IF TG_OP = 'UPDATE' THEN
        EXECUTE format('SELECT ($1).%1$I IS NOT DISTINCT FROM ($2).%1$I', TG_ARGV[0]) INTO same USING OLD, NEW;
        IF same THEN
            RETURN NEW;
        END IF;
    END IF;
    WHILE i < TG_NARGS LOOP
        EXECUTE format('LOCK TABLE %I IN SHARE MODE', TG_ARGV[i]);
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %1$I WHERE %2$I = ($1).%3$I)', TG_ARGV[i], TG_ARGV[i + 1], TG_ARGV[0])
            INTO referred USING OLD;
        IF referred THEN
            RAISE EXCEPTION '% is still referred to by %.%', TG_TABLE_NAME, TG_ARGV[i], TG_ARGV[i + 1]
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        i := i + 2;
    END LOOP;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;
"""

FORWARD = """
CREATE TRIGGER catalog_capacitycommitment_refs
    AFTER INSERT ON catalog_capacitycommitment
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION refs_check_statement(
        'pool_id', 'catalog_pool', 'id', 'resource_class_id', 'catalog_resourceclass', 'code');

CREATE TRIGGER catalog_capacitycommitment_refs_update
    AFTER UPDATE OF pool_id, resource_class_id ON catalog_capacitycommitment
    FOR EACH ROW WHEN (OLD.pool_id IS DISTINCT FROM NEW.pool_id OR OLD.resource_class_id IS DISTINCT FROM NEW.resource_class_id)
    EXECUTE FUNCTION refs_check_row(
        'pool_id', 'catalog_pool', 'id', 'resource_class_id', 'catalog_resourceclass', 'code');

CREATE TRIGGER catalog_pool_referred_by_commitments
    BEFORE DELETE OR UPDATE OF id ON catalog_pool
    FOR EACH ROW EXECUTE FUNCTION refs_keep_referenced('id', 'catalog_capacitycommitment', 'pool_id');

CREATE TRIGGER catalog_resourceclass_referred_by_commitments
    BEFORE DELETE OR UPDATE OF code ON catalog_resourceclass
    FOR EACH ROW EXECUTE FUNCTION refs_keep_referenced('code', 'catalog_capacitycommitment', 'resource_class_id');
"""

BACKWARD = """
DROP TRIGGER IF EXISTS catalog_resourceclass_referred_by_commitments ON catalog_resourceclass;
DROP TRIGGER IF EXISTS catalog_pool_referred_by_commitments ON catalog_pool;
DROP TRIGGER IF EXISTS catalog_capacitycommitment_refs_update ON catalog_capacitycommitment;
DROP TRIGGER IF EXISTS catalog_capacitycommitment_refs ON catalog_capacitycommitment;
DROP FUNCTION IF EXISTS refs_keep_referenced();
DROP FUNCTION IF EXISTS refs_check_row();
DROP FUNCTION IF EXISTS refs_check_statement();
"""


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: the '%' of RAISE and format() stay as written


def forward(apps, schema_editor):
    _run(schema_editor, FUNCTIONS + FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_redundant_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="capacitycommitment",
            name="pool",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="commitments",
                to="catalog.pool",
            ),
        ),
        migrations.AlterField(
            model_name="capacitycommitment",
            name="resource_class",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="catalog.resourceclass",
            ),
        ),
        migrations.RunPython(forward, backward, elidable=False),
    ]
