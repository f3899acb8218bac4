import json

from django.core.management.base import BaseCommand, CommandError

from settlement.services import ledger_check


class Command(BaseCommand):
    help = "Check the ledger's invariants: balanced transactions, balances equal to postings, totals."

    def handle(self, *args, **options):
        report = ledger_check(actor=None)  # audited as the system: a command has no signed-in person
        self.stdout.write(json.dumps(report, indent=1, ensure_ascii=False))
        if not report["ok"]:
            raise CommandError("The ledger is NOT consistent: see the report above.")
        self.stdout.write(self.style.SUCCESS("Ledger consistent."))
