"""What a usage record refers to, checked once per INSERT statement instead of once per row and
key: an ingested batch of 1,000 records names one provider, one pool, one buyer and a few
contracts or reservations, so one anti-join of the statement's distinct ids (its transition table)
does what 4,000 foreign-key checks at COMMIT did, which cost a third of the insert. The statement
is refused as a foreign key would refuse it (SQLSTATE 23503). Deleting what a record refers to is
kept from the ORM by PROTECT; usage records themselves are immutable (0006).
"""

import django.db.models.deletion
from django.db import migrations, models


FORWARD = """
CREATE FUNCTION settlement_usage_statement_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    SELECT 'organisation ' || r.id INTO missing FROM (
        SELECT provider_id AS id FROM new_usage UNION SELECT buyer_id FROM new_usage) AS r
    WHERE NOT EXISTS (SELECT 1 FROM accounts_organisation o WHERE o.id = r.id) LIMIT 1;
    IF missing IS NULL THEN
        SELECT 'pool ' || r.pool_id INTO missing FROM (SELECT DISTINCT pool_id FROM new_usage) AS r
        WHERE NOT EXISTS (SELECT 1 FROM catalog_pool p WHERE p.id = r.pool_id) LIMIT 1;
    END IF;
    IF missing IS NULL THEN
        SELECT 'contract ' || r.contract_id INTO missing
        FROM (SELECT DISTINCT contract_id FROM new_usage WHERE contract_id IS NOT NULL) AS r
        WHERE NOT EXISTS (SELECT 1 FROM marketplace_contract c WHERE c.id = r.contract_id) LIMIT 1;
    END IF;
    IF missing IS NULL THEN
        SELECT 'reservation ' || r.reservation_id INTO missing
        FROM (SELECT DISTINCT reservation_id FROM new_usage WHERE reservation_id IS NOT NULL) AS r
        WHERE NOT EXISTS (SELECT 1 FROM marketplace_reservation v WHERE v.id = r.reservation_id) LIMIT 1;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'usage: a record refers to %, which does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER settlement_usage_statement_references
    AFTER INSERT ON settlement_usagerecord
    REFERENCING NEW TABLE AS new_usage
    FOR EACH STATEMENT EXECUTE FUNCTION settlement_usage_statement_references();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS settlement_usage_statement_references ON settlement_usagerecord;
DROP FUNCTION IF EXISTS settlement_usage_statement_references();
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
        ('accounts', '0004_organisation_stripe_account_id'),
        ('catalog', '0002_redundant_indexes'),
        ('marketplace', '0006_trade_maker_is_a_side'),
        ('settlement', '0014_posting_references_checked_per_statement'),
    ]

    operations = [
        migrations.AlterField(
            model_name='usagerecord',
            name='buyer',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='usage', to='accounts.organisation'),
        ),
        migrations.AlterField(
            model_name='usagerecord',
            name='contract',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='usage', to='marketplace.contract'),
        ),
        migrations.AlterField(
            model_name='usagerecord',
            name='pool',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.pool'),
        ),
        migrations.AlterField(
            model_name='usagerecord',
            name='provider',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organisation'),
        ),
        migrations.AlterField(
            model_name='usagerecord',
            name='reservation',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='usage', to='marketplace.reservation'),
        ),
        migrations.RunPython(forward, backward, elidable=False),
    ]
