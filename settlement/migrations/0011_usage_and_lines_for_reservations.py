import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_organisation_stripe_account_id'),
        ('catalog', '0001_initial'),
        ('marketplace', '0003_retail'),
        ('settlement', '0010_reconciliation'),
    ]

    operations = [
        migrations.AddField(
            model_name='invoiceline',
            name='reservation',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, to='marketplace.reservation'),
        ),
        migrations.AddField(
            model_name='usagerecord',
            name='reservation',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='usage', to='marketplace.reservation'),
        ),
        migrations.AddConstraint(
            model_name='usagerecord',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('contract__isnull', True), ('reservation__isnull', False)), models.Q(('contract__isnull', False), ('reservation__isnull', True)), _connector='OR'), name='usage_for_one_delivery'),
        ),
    ]
