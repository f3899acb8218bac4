"""The standard's worked order log replays to exactly its expected trades (§9)."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

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


LISTING = (
    '{"seq":1,"ts":"2026-01-01T00:00:00Z","event":"instrument","instrument":"H100-80G.YRD.MAIN.20260105.W",'
    '"reference_price":"12.00","tick":"0.01","lot":8}'
)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not json", "line 2: not JSON"),
        ("[1, 2]", "line 2: not an event"),
        ('"new"', "line 2: not an event"),
        ("null", "line 2: not an event"),
        ('{"ts": "2026-01-01T00:00:00Z", "event": "new"}', "line 2: not an event"),
        ('{"seq": "x", "ts": "2026-01-01T00:00:00Z", "event": "new"}', "line 2: not an event"),
        ('{"seq": 2.5, "ts": "2026-01-01T00:00:00Z", "event": "new"}', "line 2: not an event"),
        ('{"seq": true, "ts": "2026-01-01T00:00:00Z", "event": "new"}', "line 2: not an event"),
    ],
)
def test_a_log_that_is_not_one_is_refused_by_its_line(tmp_path, line, says):
    """What the engine cannot even reject by reason (an event's fields are its business: a bad
    price or lot is a rejection in the output) stops the replay with the line, not a traceback."""
    log = tmp_path / "log.jsonl"
    log.write_text(f"{LISTING}\n{line}\n")
    with pytest.raises(CommandError, match=says):
        call_command("replay", str(log), stdout=io.StringIO())


def test_a_log_that_cannot_be_read_is_named(tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*missing.jsonl: No such file"):
        call_command("replay", str(tmp_path / "missing.jsonl"), stdout=io.StringIO())
