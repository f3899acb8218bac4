"""Enforce the ledger in PostgreSQL itself, not only in Python:

- a transaction whose postings do not sum to zero per currency, or that has fewer than two
  postings, cannot commit (a deferred constraint trigger, checked at COMMIT);
- posted rows (postings and journal transactions) cannot be updated or deleted.

SQLite (the zero-setup `make run` database) has no deferred constraint triggers: there the
Python checks of ledger_post stand alone, and ledger_check proves the result.
"""

from django.db import migrations

FORWARD = """
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

CREATE FUNCTION settlement_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % rows are immutable; post a reversing transaction instead', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER settlement_posting_immutable BEFORE UPDATE OR DELETE ON settlement_posting
    FOR EACH ROW EXECUTE FUNCTION settlement_immutable();
CREATE TRIGGER settlement_journaltransaction_immutable BEFORE UPDATE OR DELETE ON settlement_journaltransaction
    FOR EACH ROW EXECUTE FUNCTION settlement_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS settlement_journaltransaction_immutable ON settlement_journaltransaction;
DROP TRIGGER IF EXISTS settlement_posting_immutable ON settlement_posting;
DROP FUNCTION IF EXISTS settlement_immutable();
DROP TRIGGER IF EXISTS settlement_posting_balanced ON settlement_posting;
DROP FUNCTION IF EXISTS settlement_posting_balanced();
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
    dependencies = [("settlement", "0001_initial")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]
