import time

from django.core.management.base import BaseCommand

from catalog.demo import demo_heartbeats, demo_load


class Command(BaseCommand):
    help = "Load the demo exchange (idempotent); with --heartbeats, keep demo pools beating every 60 s."

    def add_arguments(self, parser):
        parser.add_argument("--heartbeats", action="store_true", help="Send demo heartbeats every 60 s, forever.")

    def handle(self, *args, **options):
        if options["heartbeats"]:
            while True:
                demo_heartbeats()
                time.sleep(60)
        info = demo_load()
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(f"  password for every demo login: {info['password']}")
        self.stdout.write(
            f"  operator:  {info['operator']}  (TOTP secret {info['totp_secret']};"
            " `.venv/bin/python manage.py demo_totp` prints the current code)"
        )
        self.stdout.write(f"  providers: {', '.join(info['providers'])}")
        self.stdout.write(f"  buyers:    {', '.join(info['buyers'])}")
