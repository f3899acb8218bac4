"""The standard's worked order log replays to exactly its expected trades (§9)."""

import io
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

EXAMPLES = Path(settings.BASE_DIR) / "data" / "standards" / "examples"


def test_every_order_log_example_replays_to_its_trades():
    logs = sorted(EXAMPLES.glob("orders-*.jsonl"))
    logs = [p for p in logs if not p.name.endswith(".trades.jsonl")]
    assert logs, "the examples are part of the repository"
    for log in logs:
        out = io.StringIO()
        call_command("replay", str(log), stdout=out)
        expected = log.with_name(log.name.replace(".jsonl", ".trades.jsonl")).read_text(encoding="utf-8")
        assert out.getvalue().splitlines() == expected.splitlines(), log.name
