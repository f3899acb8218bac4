import os

from django.core.asgi import get_asgi_application

from config.memory import startup_frozen

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
application = get_asgi_application()
startup_frozen()
