"""A capacity commitment's references checked by a function of its own with static SQL instead of
the generic ``refs_check_statement`` of 0003, which plans its checks again on every statement
(see config.dbrefs: a sell order's one commitment, a matching run's few)."""

from django.db import migrations

from config.dbrefs import run_on_postgresql, statement_check

FORWARD, BACKWARD = statement_check(
    "catalog_capacitycommitment",
    [("pool_id", "catalog_pool", "id"), ("resource_class_id", "catalog_resourceclass", "code")],
)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_commitment_references_checked_per_statement")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: run_on_postgresql(schema_editor, FORWARD),
            lambda apps, schema_editor: run_on_postgresql(schema_editor, BACKWARD),
        )
    ]
