"""`make run`: embedded defaults (SQLite, filesystem broker) unless the environment says otherwise."""

from .base import *  # noqa: F403

DEBUG = env.bool("DEBUG", default=True)  # noqa: F405
