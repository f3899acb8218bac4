"""Invoices and credit notes (trading standard §11). On PostgreSQL, triggers keep an issued
document as it was issued: its terms and amounts cannot change, it cannot be deleted, and its
lines cannot be added, changed or removed; only payment (paid, paid_at, status issued → paid)
moves. SQLite, the zero-setup database, relies on the services."""

import django.db.models.deletion
from decimal import Decimal
from django.db import migrations, models


FORWARD = """
CREATE FUNCTION settlement_invoice_issued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice %: an issued document cannot be deleted', OLD.number
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (
        (NEW.organisation_id, NEW.kind, NEW.period, NEW.number, NEW.corrects_id, NEW.reason, NEW.idempotency_key,
         NEW.currency,
         NEW.tax_rate, NEW.subtotal, NEW.tax, NEW.total, NEW.prepaid, NEW.buyer_details, NEW.issued_at,
         NEW.due_at, NEW.usage_cutoff)
        IS DISTINCT FROM
        (OLD.organisation_id, OLD.kind, OLD.period, OLD.number, OLD.corrects_id, OLD.reason, OLD.idempotency_key,
         OLD.currency,
         OLD.tax_rate, OLD.subtotal, OLD.tax, OLD.total, OLD.prepaid, OLD.buyer_details, OLD.issued_at,
         OLD.due_at, OLD.usage_cutoff)
        OR NEW.status = 'draft' OR (OLD.status = 'paid' AND NEW.status <> 'paid')
    ) THEN
        RAISE EXCEPTION 'invoice %: an issued document is never changed; issue a credit note', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER settlement_invoice_issued BEFORE UPDATE OR DELETE ON settlement_invoice
    FOR EACH ROW EXECUTE FUNCTION settlement_invoice_issued();

CREATE FUNCTION settlement_invoiceline_issued() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    state varchar;
BEGIN
    SELECT status INTO state FROM settlement_invoice
        WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.invoice_id ELSE NEW.invoice_id END;
    IF state IS NOT NULL AND state <> 'draft' THEN
        RAISE EXCEPTION 'the lines of an issued invoice are never changed; issue a credit note'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.invoice_id <> NEW.invoice_id THEN
        SELECT status INTO state FROM settlement_invoice WHERE id = OLD.invoice_id;
        IF state <> 'draft' THEN
            RAISE EXCEPTION 'the lines of an issued invoice are never changed; issue a credit note'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER settlement_invoiceline_issued BEFORE INSERT OR UPDATE OR DELETE ON settlement_invoiceline
    FOR EACH ROW EXECUTE FUNCTION settlement_invoiceline_issued();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS settlement_invoiceline_issued ON settlement_invoiceline;
DROP FUNCTION IF EXISTS settlement_invoiceline_issued();
DROP TRIGGER IF EXISTS settlement_invoice_issued ON settlement_invoice;
DROP FUNCTION IF EXISTS settlement_invoice_issued();
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
        ('marketplace', '0002_matchstate_without_closed_at'),
        ('settlement', '0006_usage_records'),
    ]

    operations = [
        migrations.CreateModel(
            name='DocumentCounter',
            fields=[
                ('series', models.CharField(max_length=20, primary_key=True, serialize=False)),
                ('last', models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='BillingProfile',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('legal_name', models.CharField(blank=True, max_length=200, verbose_name='legal name')),
                ('tax_id', models.CharField(blank=True, max_length=40, verbose_name='taxpayer id (纳税人识别号)')),
                ('address', models.CharField(blank=True, max_length=300, verbose_name='address')),
                ('email', models.EmailField(blank=True, max_length=254, verbose_name='invoice e-mail')),
                ('tax_exempt', models.BooleanField(default=False, verbose_name='exempt from VAT')),
                ('organisation', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='billing_profile', to='accounts.organisation')),
            ],
        ),
        migrations.CreateModel(
            name='Invoice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('invoice', 'Invoice'), ('credit_note', 'Credit note')], default='invoice', max_length=12)),
                ('period', models.DateField(help_text='The billing month (its first day, local time).')),
                ('number', models.CharField(blank=True, max_length=30, null=True, unique=True)),
                ('status', models.CharField(choices=[('draft', 'Draft'), ('issued', 'Issued'), ('paid', 'Paid')], default='draft', max_length=8)),
                ('reason', models.CharField(blank=True, max_length=300)),
                ('idempotency_key', models.CharField(blank=True, max_length=200, null=True, unique=True)),
                ('currency', models.CharField(default='CNY', max_length=3)),
                ('tax_rate', models.DecimalField(decimal_places=4, max_digits=6)),
                ('subtotal', models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=20)),
                ('tax', models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=20)),
                ('total', models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=20)),
                ('prepaid', models.DecimalField(decimal_places=2, default=Decimal('0.00'), help_text='Paid before the invoice: wholesale trades settle at once.', max_digits=20)),
                ('paid', models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=20)),
                ('buyer_details', models.JSONField(blank=True, default=dict)),
                ('issued_at', models.DateTimeField(blank=True, null=True)),
                ('due_at', models.DateTimeField(blank=True, null=True)),
                ('paid_at', models.DateTimeField(blank=True, null=True)),
                ('usage_cutoff', models.DateTimeField(blank=True, help_text='Usage received after this is billed later, as an adjustment.', null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('corrects', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='credit_notes', to='settlement.invoice')),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='invoices', to='accounts.organisation')),
            ],
            options={
                'ordering': ['-period', '-id'],
            },
        ),
        migrations.CreateModel(
            name='InvoiceLine',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('wholesale', 'Wholesale contract'), ('trade_fee', 'Trade fee'), ('retail_time', 'Retail, per time'), ('retail_volume', 'Retail, per volume'), ('adjustment', 'Adjustment'), ('sla_credit', 'Service-level credit'), ('correction', 'Correction')], max_length=16)),
                ('product', models.CharField(blank=True, max_length=80)),
                ('description', models.CharField(max_length=300)),
                ('service_date', models.DateField(blank=True, help_text='For an adjustment: the period it corrects.', null=True)),
                ('quantity', models.DecimalField(blank=True, decimal_places=6, help_text='Unit-hours, or units for a fee.', max_digits=20, null=True)),
                ('minutes', models.PositiveIntegerField(blank=True, null=True)),
                ('unit_price', models.DecimalField(blank=True, decimal_places=4, max_digits=12, null=True)),
                ('tou', models.CharField(blank=True, max_length=8)),
                ('discount', models.DecimalField(blank=True, decimal_places=2, max_digits=4, null=True)),
                ('amount', models.DecimalField(decimal_places=2, max_digits=20)),
                ('prepaid', models.BooleanField(default=False, help_text='Paid when it was traded.')),
                ('contract', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, to='marketplace.contract')),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='settlement.invoice')),
                ('provider', models.ForeignKey(blank=True, help_text='Whose capacity was charged (for its statement).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organisation')),
            ],
            options={
                'ordering': ['id'],
            },
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.UniqueConstraint(condition=models.Q(('kind', 'invoice')), fields=('organisation', 'period'), name='one_invoice_per_month'),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('number__isnull', True), ('status', 'draft')), models.Q(models.Q(('status', 'draft'), _negated=True), ('number__isnull', False)), _connector='OR'), name='invoice_numbered_when_issued'),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('corrects__isnull', True), ('kind', 'invoice')), models.Q(('corrects__isnull', False), ('kind', 'credit_note')), _connector='OR'), name='credit_note_corrects_an_invoice'),
        ),
        migrations.AddConstraint(
            model_name='invoice',
            constraint=models.CheckConstraint(condition=models.Q(('paid__gte', 0), ('prepaid__gte', 0)), name='invoice_paid_nonnegative'),
        ),
        migrations.AddConstraint(
            model_name='invoiceline',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gte', 0), ('kind', 'adjustment'), _connector='OR'), name='invoice_line_nonnegative'),
        ),
        migrations.RunPython(forward, backward, elidable=False),
    ]
