import json

from django.core.management.base import BaseCommand, CommandError

from settlement.selectors import ledger_check_run


class Command(BaseCommand):
    help = "Check the ledger's invariants: balanced transactions, balances equal to postings, totals."

    def handle(self, *args, **options):
        report = ledger_check_run()
        self.stdout.write(json.dumps(report, indent=1, ensure_ascii=False))
        if not report["ok"]:
            raise CommandError("The ledger is NOT consistent: see the report above.")
        self.stdout.write(self.style.SUCCESS("Ledger consistent."))
