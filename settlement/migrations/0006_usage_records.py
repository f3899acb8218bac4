"""Usage records (trading standard §6.2), immutable once stored: on PostgreSQL a trigger refuses
UPDATE and DELETE, as for the ledger's rows (SQLite, the zero-setup database, relies on the code)."""

import django.db.models.deletion
from django.db import migrations, models


FORWARD = """
CREATE FUNCTION settlement_usage_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'usage records are immutable; correct an invoice by a credit note or an adjustment'
        USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER settlement_usagerecord_immutable BEFORE UPDATE OR DELETE ON settlement_usagerecord
    FOR EACH ROW EXECUTE FUNCTION settlement_usage_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS settlement_usagerecord_immutable ON settlement_usagerecord;
DROP FUNCTION IF EXISTS settlement_usage_immutable();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_organisation_stripe_account_id'),
        ('catalog', '0001_initial'),
        ('marketplace', '0002_matchstate_without_closed_at'),
        ('settlement', '0005_exact_hold_constraints'),
    ]

    operations = [
        migrations.CreateModel(
            name='UsageRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('record_id', models.CharField(max_length=100)),
                ('meter', models.CharField(max_length=20)),
                ('quantity', models.DecimalField(decimal_places=6, help_text="In the meter's unit-seconds.", max_digits=24)),
                ('start', models.DateTimeField()),
                ('end', models.DateTimeField()),
                ('received_at', models.DateTimeField()),
                ('buyer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='usage', to='accounts.organisation')),
                ('contract', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='usage', to='marketplace.contract')),
                ('pool', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.pool')),
                ('provider', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organisation')),
            ],
            options={
                'ordering': ['start', 'id'],
                'indexes': [models.Index(fields=['buyer', 'start'], name='usage_buyer_start')],
                'constraints': [models.UniqueConstraint(fields=('provider', 'record_id'), name='usage_record_once'), models.CheckConstraint(condition=models.Q(('end__gt', models.F('start'))), name='usage_interval'), models.CheckConstraint(condition=models.Q(('quantity__gte', 0)), name='usage_quantity_nonnegative')],
            },
        ),
        migrations.RunPython(forward, backward, elidable=False),
    ]
