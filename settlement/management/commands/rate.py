import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from settlement.rating import CaseError, case_loads, case_rate, rating_json
from settlement.selectors import rating_reference


class Command(BaseCommand):
    help = (
        "Rate a rating case (trading standard Appendix A) and print its lines, subtotal, tax and total as JSON. "
        "An invalid case prints its problems on stderr, nothing on stdout, and exits non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument("case", help="the rating case (JSON); - for standard input")
        parser.add_argument(
            "--reference",
            type=Path,
            metavar="DIR",
            help="take tariffs and meters from DIR/regions.json and DIR/resource-classes.json (e.g. data/) "
            "instead of the database",
        )

    def handle(self, *args, case, reference, **options):
        try:
            text = sys.stdin.buffer.read() if case == "-" else Path(case).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read the case: {exc}") from exc
        try:
            tariffs, meters = rating_reference(directory=reference)
        except DatabaseError as exc:
            raise CommandError(f"cannot read tariffs from the database ({exc}); or pass --reference data/") from exc
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"cannot read the reference data: {exc!r}") from exc
        if not tariffs or not meters:
            raise CommandError("no tariffs or resource classes: load the reference data, or pass --reference data/")
        try:
            rating_case = case_loads(text, meters=meters, regions=tariffs)
        except CaseError as exc:
            raise CommandError(f"invalid rating case {case}:\n{exc}") from exc
        rating = case_rate(rating_case, tariff=tariffs[rating_case.region])
        self.stdout.write(json.dumps(rating_json(rating), indent=1))
