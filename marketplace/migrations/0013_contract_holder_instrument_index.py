"""A contract is looked up by its holder and instrument (every sell locks its organisation's
contracts on the instrument, to resell them first): one index on both, instead of one on the
holder beside the instrument's, which PostgreSQL combined by reading every entry of the instrument
(all its contracts) even for a seller that holds none. The new index is built before the old one
goes, so the lookup is covered throughout; it serves the lookups by holder alone as well."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_organisation_city"),
        ("marketplace", "0012_order_references_checked_per_statement"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="contract",
            index=models.Index(fields=["holder", "instrument"], name="contract_holder_instrument"),
        ),
        migrations.AlterField(
            model_name="contract",
            name="holder",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="contracts",
                to="accounts.organisation",
            ),
        ),
    ]
