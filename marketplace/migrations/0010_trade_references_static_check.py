"""Trades', contracts' and contract legs' references checked by a function of each table's own
with static SQL instead of the generic ``refs_check_statement`` of 0007, which plans its checks
again on every statement (see config.dbrefs: a matching run of a few orders wrote a trade, a
contract and a leg, and paid some 660 µs of server CPU for their eleven checks)."""

from importlib import import_module

from django.db import migrations

from config.dbrefs import run_on_postgresql, statement_check

# the same tables and references as 0007 (a migration module's name starts with a digit)
REFERRING = import_module("marketplace.migrations.0007_trade_references_checked_per_statement").REFERRING
SQL = [statement_check(table, keys) for table, keys in REFERRING.items()]


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_commitment_references_static_check"),
        ("marketplace", "0009_scheduling"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: run_on_postgresql(schema_editor, "".join(f for f, _ in SQL)),
            lambda apps, schema_editor: run_on_postgresql(schema_editor, "".join(b for _, b in SQL)),
        )
    ]
