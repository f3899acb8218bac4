"""What a posting refers to, checked once per INSERT statement instead of once per row.

A foreign-key check is a query per row and per key, run at COMMIT: for the matching worker's
batch of postings (four per trade) it cost as much as writing them. The two foreign keys of
settlement_posting give way to a statement-level trigger that anti-joins the statement's rows
(its transition table) against the transactions and the accounts, and refuses the statement if
any posting refers to a missing one (SQLSTATE 23503, as a foreign key would). What a foreign key
also guarantees, that the referenced row cannot go away, holds by other triggers: journal
transactions are immutable (0002), and accounts cannot be deleted nor their ids changed (below).
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
CREATE FUNCTION settlement_posting_statement_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT p.transaction_id INTO missing FROM (SELECT DISTINCT transaction_id FROM new_postings) AS p
    WHERE NOT EXISTS (SELECT 1 FROM settlement_journaltransaction j WHERE j.id = p.transaction_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: a posting refers to transaction %, which does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT p.account_id INTO missing FROM (SELECT DISTINCT account_id FROM new_postings) AS p
    WHERE NOT EXISTS (SELECT 1 FROM settlement_account a WHERE a.id = p.account_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: a posting refers to account %, which does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER settlement_posting_statement_references
    AFTER INSERT ON settlement_posting
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION settlement_posting_statement_references();

CREATE FUNCTION settlement_account_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: accounts are never deleted nor renumbered'
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER settlement_account_permanent BEFORE DELETE OR UPDATE OF id ON settlement_account
    FOR EACH ROW EXECUTE FUNCTION settlement_account_permanent();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS settlement_account_permanent ON settlement_account;
DROP FUNCTION IF EXISTS settlement_account_permanent();
DROP TRIGGER IF EXISTS settlement_posting_statement_references ON settlement_posting;
DROP FUNCTION IF EXISTS settlement_posting_statement_references();
"""


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: the '%' of RAISE stays as written


def forward(apps, schema_editor):
    _run(schema_editor, FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("settlement", "0013_hold_fillfactor"),
    ]

    operations = [
        migrations.AlterField(
            model_name="posting",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="postings",
                to="settlement.account",
            ),
        ),
        migrations.AlterField(
            model_name="posting",
            name="transaction",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="postings",
                to="settlement.journaltransaction",
            ),
        ),
        migrations.RunPython(forward, backward, elidable=False),
    ]
