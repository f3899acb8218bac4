import json
import sys

import orjson
from django.core.management.base import BaseCommand, CommandError

from marketplace.engine import Engine
from marketplace.engine.matching import trade_line


class Command(BaseCommand):
    help = "Replay an order log (JSON Lines, trading standard §9) and print its trades as JSON Lines."

    def add_arguments(self, parser):
        parser.add_argument("log", help="the order log; - for standard input")
        parser.add_argument("--rejections", action="store_true", help="also report rejected events on stderr")

    def handle(self, *args, log, rejections, **options):
        try:
            stream = sys.stdin.buffer if log == "-" else open(log, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise CommandError(f"Cannot read {log}: {exc.strerror}.") from exc
        engine, number, out = Engine(), 0, []
        with stream:
            for line_number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    event = orjson.loads(line)  # a few times json's speed; numbers and strings alike
                except orjson.JSONDecodeError as exc:
                    raise CommandError(f"line {line_number}: not JSON ({exc})") from exc
                if not _is_event(event):  # what the engine rejects by reason needs this much of an event
                    raise CommandError(f"line {line_number}: not an event (a JSON object with an integer seq)")
                result = engine.apply(event)
                for trade in result.trades:
                    number += 1
                    out.append(json.dumps(trade_line(number, trade)))
                if len(out) >= 10_000:
                    self.stdout.write("\n".join(out))
                    out.clear()
                if rejections and result.rejection:
                    r = result.rejection
                    self.stderr.write(f"seq {r.seq}: rejected {r.reason} {r.detail}".rstrip())
        if out:
            self.stdout.write("\n".join(out))


def _is_event(event) -> bool:
    if not isinstance(event, dict):
        return False
    seq = event.get("seq")
    return (isinstance(seq, int) and not isinstance(seq, bool)) or (isinstance(seq, str) and seq.isdecimal())
