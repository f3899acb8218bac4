"""A posting names what it is for (``source``), and the balance trigger checks statements, not rows.
Also drops the posting's account index, which posting_account_txn makes redundant.

The matching worker settles a batch of trades in one journal transaction, so each posting carries
its trade (``trade:<instrument>:<number>``) for statements and reconciliation.

The deferred per-row trigger of 0002 ran two queries per posting at COMMIT: a third of the
matching worker's database time. Its guarantee stays, checked far more cheaply: after each INSERT
statement into settlement_posting, a statement-level trigger sums the statement's own rows (its
transition table) per transaction and currency. A statement whose rows balance for a transaction
leaves that transaction as balanced as it was (postings are immutable), and has two postings or
more for it (amounts are non-zero). Only a transaction that a statement leaves unbalanced — code
writing its postings one at a time — is queued (settlement_ledger_pending) for the full check of
0002 at COMMIT, which refuses it unless later statements balanced it. So an unbalanced
transaction still cannot commit, and a balanced one written in one statement costs one hash
aggregate per statement instead of two queries per row.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
DROP TRIGGER settlement_posting_balanced ON settlement_posting;
DROP FUNCTION settlement_posting_balanced();

CREATE UNLOGGED TABLE settlement_ledger_pending (transaction_id bigint NOT NULL);
CREATE INDEX settlement_ledger_pending_txn ON settlement_ledger_pending (transaction_id);

CREATE FUNCTION settlement_posting_statement_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO settlement_ledger_pending (transaction_id)
    SELECT DISTINCT transaction_id FROM (
        SELECT transaction_id FROM new_postings GROUP BY transaction_id, currency HAVING sum(amount) <> 0
    ) AS unbalanced;
    RETURN NULL;
END $$;

CREATE TRIGGER settlement_posting_statement_balanced
    AFTER INSERT ON settlement_posting
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION settlement_posting_statement_balanced();

CREATE FUNCTION settlement_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    n integer;
BEGIN
    DELETE FROM settlement_ledger_pending WHERE transaction_id = NEW.transaction_id;
    SELECT count(*) INTO n FROM settlement_posting WHERE transaction_id = NEW.transaction_id;
    IF n < 2 THEN
        RAISE EXCEPTION 'ledger: transaction % has % posting(s); two or more are required', NEW.transaction_id, n
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    FOR bad IN
        SELECT currency, sum(amount) AS total FROM settlement_posting
        WHERE transaction_id = NEW.transaction_id GROUP BY currency HAVING sum(amount) <> 0
    LOOP
        RAISE EXCEPTION 'ledger: transaction % does not balance in % (sum %)', NEW.transaction_id, bad.currency, bad.total
            USING ERRCODE = 'integrity_constraint_violation';
    END LOOP;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER settlement_transaction_balanced
    AFTER INSERT ON settlement_ledger_pending
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION settlement_transaction_balanced();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS settlement_transaction_balanced ON settlement_ledger_pending;
DROP FUNCTION IF EXISTS settlement_transaction_balanced();
DROP TRIGGER IF EXISTS settlement_posting_statement_balanced ON settlement_posting;
DROP FUNCTION IF EXISTS settlement_posting_statement_balanced();
DROP TABLE IF EXISTS settlement_ledger_pending;

CREATE FUNCTION settlement_posting_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    n integer;
BEGIN
    SELECT count(*) INTO n FROM settlement_posting WHERE transaction_id = NEW.transaction_id;
    IF n < 2 THEN
        RAISE EXCEPTION 'ledger: transaction % has % posting(s); two or more are required', NEW.transaction_id, n
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    FOR bad IN
        SELECT currency, sum(amount) AS total FROM settlement_posting
        WHERE transaction_id = NEW.transaction_id GROUP BY currency HAVING sum(amount) <> 0
    LOOP
        RAISE EXCEPTION 'ledger: transaction % does not balance in % (sum %)', NEW.transaction_id, bad.currency, bad.total
            USING ERRCODE = 'integrity_constraint_violation';
    END LOOP;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER settlement_posting_balanced
    AFTER INSERT ON settlement_posting
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION settlement_posting_balanced();
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
    dependencies = [("settlement", "0011_usage_and_lines_for_reservations")]
    operations = [
        migrations.AddField(
            model_name="posting",
            name="source",
            field=models.CharField(blank=True, default="", help_text="e.g. trade:3:17", max_length=120),
        ),
        migrations.AlterField(  # indexed by posting_account_txn, which leads with it
            model_name="posting",
            name="account",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="postings",
                to="settlement.account",
            ),
        ),
        migrations.RunPython(forward, backward, elidable=False),
    ]
