"""Room on each page of order allocations for their next version (fillfactor 70), so the matching
worker's updates of ``filled`` and ``released`` (no indexed column) are heap-only: no index entry
per update. PostgreSQL only; it applies to pages written from now on."""

from django.db import migrations


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(sql)


def forward(apps, schema_editor):
    _run(schema_editor, "ALTER TABLE marketplace_orderallocation SET (fillfactor = 70)")


def backward(apps, schema_editor):
    _run(schema_editor, "ALTER TABLE marketplace_orderallocation RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0004_redundant_indexes")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]
