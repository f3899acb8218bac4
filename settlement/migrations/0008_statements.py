"""Provider statements (trading standard §11), never changed once issued (a PostgreSQL trigger)."""

import django.db.models.deletion
from django.db import migrations, models


FORWARD = """
CREATE FUNCTION settlement_statement_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'statements are never changed; a correction appears on the next statement'
        USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER settlement_statement_immutable BEFORE UPDATE OR DELETE ON settlement_statement
    FOR EACH ROW EXECUTE FUNCTION settlement_statement_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS settlement_statement_immutable ON settlement_statement;
DROP FUNCTION IF EXISTS settlement_statement_immutable();
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
        ('settlement', '0007_invoices'),
    ]

    operations = [
        migrations.CreateModel(
            name='Statement',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period', models.DateField()),
                ('number', models.CharField(max_length=30, unique=True)),
                ('gross_retail', models.DecimalField(decimal_places=2, max_digits=20)),
                ('gross_wholesale', models.DecimalField(decimal_places=2, max_digits=20)),
                ('commission_retail', models.DecimalField(decimal_places=2, max_digits=20)),
                ('commission_wholesale', models.DecimalField(decimal_places=2, max_digits=20)),
                ('trade_fees', models.DecimalField(decimal_places=2, max_digits=20)),
                ('chargebacks', models.DecimalField(decimal_places=2, max_digits=20)),
                ('net', models.DecimalField(decimal_places=2, max_digits=20)),
                ('issued_at', models.DateTimeField()),
                ('provider', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='statements', to='accounts.organisation')),
            ],
            options={
                'ordering': ['-period', '-id'],
                'constraints': [models.UniqueConstraint(fields=('provider', 'period'), name='one_statement_per_month')],
            },
        ),
        migrations.RunPython(forward, backward, elidable=False),
    ]
