"""`make run`: embedded defaults (SQLite, filesystem broker) unless the environment says otherwise."""

from .base import *  # noqa: F403

DEBUG = env.bool("DEBUG", default=True)  # noqa: F405
LIVE_PUSH_UNDER_WSGI = env.bool("LIVE_PUSH_UNDER_WSGI", default=True)  # noqa: F405 (runserver: a thread per connection)
