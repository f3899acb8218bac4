from django.core.management.base import BaseCommand, CommandError

from marketplace.models import Instrument
from marketplace.services.log import log_lines


class Command(BaseCommand):
    help = "Write an instrument's order log (trading standard §9) as JSON Lines, in seq order."

    def add_arguments(self, parser):
        parser.add_argument("instrument", help="the instrument code, e.g. H100-80G.YRD.MAIN.20261207.W")
        parser.add_argument("--output", "-o", help="a file to write (default: standard output)")

    def handle(self, *args, instrument, output, **options):
        found = Instrument.objects.filter(code=instrument).first()
        if found is None:
            raise CommandError(f"No instrument {instrument}.")
        if output:
            with open(output, "w", encoding="utf-8") as stream:
                stream.writelines(log_lines(instrument=found))
        else:
            for line in log_lines(instrument=found):
                self.stdout.write(line, ending="")
