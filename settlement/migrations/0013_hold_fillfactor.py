"""Room on each page of holds for their next version (fillfactor 70), so the matching worker's
updates of ``captured``, ``released``, ``status`` and ``closed_at`` (no indexed column) are
heap-only: no index entry per update. PostgreSQL only; it applies to pages written from now on."""

from django.db import migrations


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(sql)


def forward(apps, schema_editor):
    _run(schema_editor, "ALTER TABLE settlement_hold SET (fillfactor = 70)")


def backward(apps, schema_editor):
    _run(schema_editor, "ALTER TABLE settlement_hold RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("settlement", "0012_posting_source_and_statement_balance_check")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]
