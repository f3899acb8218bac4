from django.core.management.base import BaseCommand

from marketplace.demo import demo_market


class Command(BaseCommand):
    help = "List the upcoming instruments and trade a little on two of them (idempotent; after demo_data)."

    def handle(self, *args, **options):
        info = demo_market()
        self.stdout.write(
            self.style.SUCCESS(
                f"Market: {info['listed']} instruments listed, {info['orders']} demo orders, "
                f"{info.get('listings', 0)} retail listings."
            )
        )
