"""Production: everything from the environment, secure cookies, no debug."""

from .base import *  # noqa: F403

SECRET_KEY = env("SECRET_KEY")  # noqa: F405  (required: no default in production)
DEBUG = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
