from django.core.management.base import BaseCommand

from catalog.services import reference_data_load


class Command(BaseCommand):
    help = "Load resource classes, hub regions and time-of-use multipliers from data/ (idempotent)."

    def handle(self, *args, **options):
        counts = reference_data_load()
        self.stdout.write(", ".join(f"{n} {what}" for what, n in counts.items()))
