import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('settlement', '0008_statements'),
    ]

    operations = [
        migrations.CreateModel(
            name='SlaCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('availability', models.DecimalField(decimal_places=6, help_text='Rounded half-up, as shown.', max_digits=9)),
                ('commitment', models.DecimalField(decimal_places=3, max_digits=5)),
                ('credit_rate', models.DecimalField(decimal_places=2, max_digits=3)),
                ('checked_at', models.DateTimeField()),
                ('credit_note', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='settlement.invoice')),
                ('line', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='sla_check', to='settlement.invoiceline')),
            ],
        ),
    ]
