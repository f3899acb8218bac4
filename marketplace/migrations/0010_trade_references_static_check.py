"""Trades', contracts' and contract legs' references checked by a function of each table's own
with static SQL instead of the generic ``refs_check_statement`` of 0007, which plans its checks
again on every statement (see config.dbrefs: a matching run of a few orders wrote a trade, a
contract and a leg, and paid some 660 µs of server CPU for their eleven checks)."""

from django.db import migrations

from config.dbrefs import run_on_postgresql, statement_check

REFERRING = {  # as in 0007
    "marketplace_trade": [
        ("instrument_id", "marketplace_instrument", "id"),
        ("buy_order_id", "marketplace_order", "id"),
        ("sell_order_id", "marketplace_order", "id"),
        ("buyer_id", "accounts_organisation", "id"),
        ("seller_id", "accounts_organisation", "id"),
    ],
    "marketplace_contract": [
        ("trade_id", "marketplace_trade", "id"),
        ("instrument_id", "marketplace_instrument", "id"),
        ("holder_id", "accounts_organisation", "id"),
        ("seller_id", "accounts_organisation", "id"),
    ],
    "marketplace_contractleg": [
        ("contract_id", "marketplace_contract", "id"),
        ("pool_id", "catalog_pool", "id"),
    ],
}
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
