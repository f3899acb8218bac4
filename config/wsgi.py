import os

from django.core.wsgi import get_wsgi_application

from config.memory import startup_frozen

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
application = get_wsgi_application()
startup_frozen()
