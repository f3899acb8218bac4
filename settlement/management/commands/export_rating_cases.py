import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from settlement.models import Invoice
from settlement.rating import case_dumps
from settlement.services.rating_cases import invoice_cases


class Command(BaseCommand):
    help = (
        "Write an invoice's charges as rating cases (trading standard Appendix A), one file per product, price and "
        "provider, each re-ratable with `manage.py rate FILE`; prints what each case billed."
    )

    def add_arguments(self, parser):
        parser.add_argument("invoice", help="the invoice's number, e.g. INV-2026-000001")
        parser.add_argument("--out", type=Path, default=Path("."), help="the folder to write into (default: here)")

    def handle(self, *args, invoice, out, **options):
        found = Invoice.objects.filter(number=invoice, kind="invoice").first()
        if found is None:
            raise CommandError(f"no invoice numbered {invoice}")
        out.mkdir(parents=True, exist_ok=True)
        for n, item in enumerate(invoice_cases(found), start=1):
            path = out / f"{found.number}-case-{n}.json"
            path.write_text(case_dumps(item.case) + "\n", encoding="utf-8")
            self.stdout.write(json.dumps({"file": str(path), "label": item.label, "billed": format(item.billed, "f")}))
