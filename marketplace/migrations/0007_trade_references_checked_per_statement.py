"""What trades, contracts and contract legs refer to, checked once per INSERT statement instead of
once per row and key (13 queries per trade with its contract, leg and commitment, each locking
the referenced row): the matching batch writes thousands of each. The foreign-key constraints
give way to the generic triggers of catalog 0003 (see its docstring): one anti-join per statement
and key on insert, a row check when an update changes a referring column, and, on the referenced
tables, a refusal to delete (or renumber) a row that is still referred to, after waiting for
every transaction that may be inserting a referring one.
"""

import django.db.models.deletion
from django.db import migrations, models

REFERRING = {  # referring table: (column, referenced table, referenced column), …
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


def _sql() -> tuple[str, str]:
    """The triggers' DDL, forward and backward, from REFERRING (identifiers of our own, no input)."""
    forward, backward = [], []
    for table, keys in REFERRING.items():
        args = ", ".join(f"'{name}'" for key in keys for name in key)
        columns = ", ".join(column for column, _, _ in keys)
        changed = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column, _, _ in keys)
        forward.append(
            f"CREATE TRIGGER {table}_refs AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION refs_check_statement({args});\n"
            f"CREATE TRIGGER {table}_refs_update AFTER UPDATE OF {columns} ON {table} FOR EACH ROW "
            f"WHEN ({changed}) EXECUTE FUNCTION refs_check_row({args});"
        )
        backward += [f"DROP TRIGGER IF EXISTS {table}_refs ON {table};",
                     f"DROP TRIGGER IF EXISTS {table}_refs_update ON {table};"]  # fmt: skip
    referred: dict[str, list[tuple[str, str, str]]] = {}
    for table, keys in REFERRING.items():
        for column, target, target_column in keys:
            referred.setdefault(target, []).append((target_column, table, column))
    for target, refs in referred.items():
        target_column = refs[0][0]
        args = ", ".join(f"'{name}'" for name in [target_column, *(n for _, t, c in refs for n in (t, c))])
        forward.append(
            f"CREATE TRIGGER {target}_referred_by_trades BEFORE DELETE OR UPDATE OF {target_column} ON {target} "
            f"FOR EACH ROW EXECUTE FUNCTION refs_keep_referenced({args});"
        )
        backward.append(f"DROP TRIGGER IF EXISTS {target}_referred_by_trades ON {target};")
    return "\n".join(forward), "\n".join(backward)


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


def forward(apps, schema_editor):
    _run(schema_editor, _sql()[0])


def backward(apps, schema_editor):
    _run(schema_editor, _sql()[1])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_organisation_stripe_account_id"),
        ("catalog", "0003_commitment_references_checked_per_statement"),
        ("marketplace", "0006_trade_maker_is_a_side"),
    ]

    operations = [
        migrations.AlterField(
            model_name="contract",
            name="holder",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="contracts",
                to="accounts.organisation",
            ),
        ),
        migrations.AlterField(
            model_name="contract",
            name="instrument",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="contracts",
                to="marketplace.instrument",
            ),
        ),
        migrations.AlterField(
            model_name="contract",
            name="seller",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.organisation",
            ),
        ),
        migrations.AlterField(
            model_name="contract",
            name="trade",
            field=models.OneToOneField(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="contract",
                to="marketplace.trade",
            ),
        ),
        migrations.AlterField(
            model_name="contractleg",
            name="contract",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="legs",
                to="marketplace.contract",
            ),
        ),
        migrations.AlterField(
            model_name="contractleg",
            name="pool",
            field=models.ForeignKey(
                db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="catalog.pool"
            ),
        ),
        migrations.AlterField(
            model_name="trade",
            name="buy_order",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="buy_trades",
                to="marketplace.order",
            ),
        ),
        migrations.AlterField(
            model_name="trade",
            name="buyer",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.organisation",
            ),
        ),
        migrations.AlterField(
            model_name="trade",
            name="instrument",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="trades",
                to="marketplace.instrument",
            ),
        ),
        migrations.AlterField(
            model_name="trade",
            name="sell_order",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="sell_trades",
                to="marketplace.order",
            ),
        ),
        migrations.AlterField(
            model_name="trade",
            name="seller",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.organisation",
            ),
        ),
        migrations.RunPython(forward, backward, elidable=False),
    ]
