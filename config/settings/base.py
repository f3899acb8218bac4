"""Settings shared by every environment. The environment is read here and only here."""

from pathlib import Path

import environ
from django.utils.translation import gettext_noop

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

VAR_DIR.mkdir(exist_ok=True)  # the embedded database and broker of `make run`

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="dev-insecure-change-me-0123456789abcdefghijklmnopqrstuvwxyz")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "accounts",
    "catalog",
    "marketplace",
    "settlement",
]

# Sessions, session authentication and messages are skipped for API requests
# that carry an organisation API key (accounts/middleware.py): they need none of them.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "accounts.middleware.BrowserSessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "accounts.middleware.BrowserAuthenticationMiddleware",
    "accounts.middleware.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.ActiveOrganisationMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "accounts.context_processors.organisation",
            ],
            # {{ amount|yuan }} and {{ qty|grouped }} on every page without a {% load %}.
            "builtins": ["settlement.templatetags.money"],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'suanli.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Keep a web or worker thread's database connection between requests (opening one costs a
# PostgreSQL backend process, several milliseconds); checked before reuse after an error.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=300)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
# Every call to the cache's Redis is bounded by us, not by redis-py's default (which has varied:
# 5 s since 8.0, no limit before): a Redis that stops answering costs a request, or a matching
# run's publish after its commit, this long at most, and the caller's fallback takes over (the
# pages' timers, the backlog sweep).
REDIS_TIMEOUT_SECONDS = env.float("REDIS_TIMEOUT_SECONDS", default=2.0)
REDIS_OPTIONS = {"socket_timeout": REDIS_TIMEOUT_SECONDS, "socket_connect_timeout": REDIS_TIMEOUT_SECONDS}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": REDIS_OPTIONS,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "accounts:dashboard"
LOGIN_URL = "account_login"

# django-allauth: e-mail is the login; verification is mandatory; TOTP MFA for all,
# enforced for operators by accounts.permissions.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Suanli"

MAILERS = {"default": {"BACKEND": env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")}}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Suanli <no-reply@suanli.example>")

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"  # the trading standard's local time; stored in UTC
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "config.api.OrganisationRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", default="120/min"),
        "organisation": env("THROTTLE_ORGANISATION", default="6000/min"),
    },
    "COERCE_DECIMAL_TO_STRING": True,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Suanli compute exchange API",
    "DESCRIPTION": "REST API of the Suanli compute-power exchange (算力交易所).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served by the app itself: the site works without internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "PoolStatusEnum": "catalog.models.PoolStatus",
        "OrderStatusEnum": "marketplace.models.OrderStatus",
        "WindowKindEnum": "marketplace.models.WindowKind",
    },
}

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport under var/
# so `make run` needs no broker service.
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
if not REDIS_URL:
    for _folder in ("broker", "broker-processed", "broker-control"):
        (VAR_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {}
    if REDIS_URL
    else {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
    }
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes the database connections around every task unless this is set;
# config.celery closes them as Django does around a request (broken, or past CONN_MAX_AGE)
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_TIMEZONE = "UTC"
# Matching runs on its own queues, an instrument always on the same one (instrument id modulo)
MATCHING_QUEUES = env.int("MATCHING_QUEUES", default=2)
MATCHING_BATCH = env.int("MATCHING_BATCH", default=5000)  # events matched per transaction
# A worker drains an instrument at most once per this many ms: orders accepted meanwhile join the
# next run (one wake-up and one matching transaction for many orders under load; see
# marketplace/services/dispatch.py). 0: run at every wake-up. 30 keeps accept-to-match near 50 ms
# at half the sustained single-order rate while a run's fixed cost is shared by the orders of 30 ms
# (docs/performance.md: at 20, 200 single orders/s left p99 at 70-80 ms on two cores).
MATCHING_INTERVAL_MS = env.int("MATCHING_INTERVAL_MS", default=30)
# How long a process keeps an API key as read (with its organisation and its creator's role):
# a key revoked elsewhere works here that long at most. 0: read on every request.
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=5.0)
# Off only for benchmarks and bulk loads: acceptance then sends no task, and the periodic sweep
# (or a worker starting) matches the backlog.
MATCHING_DISPATCH = env.bool("MATCHING_DISPATCH", default=True)
# Live pages (marketplace/live.py): matching publishes what changed on Redis and /live/events
# streams it. A stream holds its connection, so under WSGI it is served only where each connection
# has its own thread (runserver: dev.py); gunicorn's fixed threads answer 204 and pages poll. Under
# ASGI (uvicorn) it is always served. Each stream ends after LIVE_STREAM_SECONDS (the browser
# reconnects) and sends a comment every LIVE_KEEPALIVE_SECONDS while nothing happens.
LIVE_PUSH_UNDER_WSGI = env.bool("LIVE_PUSH_UNDER_WSGI", default=False)
LIVE_STREAM_SECONDS = env.float("LIVE_STREAM_SECONDS", default=300.0)
LIVE_KEEPALIVE_SECONDS = env.float("LIVE_KEEPALIVE_SECONDS", default=15.0)
# Scheduling (§10): a submitted demand asks a worker for a round at once; beat runs one every 30 s.
SCHEDULING_DISPATCH = env.bool("SCHEDULING_DISPATCH", default=True)
SCHEDULING_TIME_LIMIT = env.float("SCHEDULING_TIME_LIMIT", default=2.0)  # the solver's seconds per round
CELERY_BEAT_SCHEDULE = {
    "instruments-list": {"task": "marketplace.tasks.instruments_list_task", "schedule": 3600.0},
    "instruments-sweep": {"task": "marketplace.tasks.instruments_sweep_task", "schedule": 15.0},
    "pools-suspend-silent": {"task": "catalog.tasks.pools_suspend_silent_task", "schedule": 60.0},
    "capacity-load-compact": {"task": "catalog.tasks.capacity_load_compact_task", "schedule": 60.0},
    "holds-expire": {"task": "settlement.tasks.holds_expire_task", "schedule": 60.0},
    "card-payments-resolve": {"task": "settlement.tasks.card_payments_resolve_task", "schedule": 300.0},
    "stripe-transfers-resolve": {"task": "settlement.tasks.stripe_transfers_resolve_task", "schedule": 300.0},
    "ledger-check": {"task": "settlement.tasks.ledger_check_task", "schedule": 3600.0},
    "invoices": {"task": "settlement.tasks.invoices_task", "schedule": 3600.0},
    "reservations-complete": {"task": "marketplace.tasks.reservations_complete_task", "schedule": 300.0},
    "scheduling-round": {"task": "marketplace.tasks.scheduling_round_task", "schedule": 30.0},
}

# Stripe: the real API unless STRIPE_API_BASE points elsewhere (localstripe in tests).
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="sk_test_local")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="whsec_local")
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=20)

# Shown to buyers for top-ups by bank transfer (对公转账).
SUANLI_BANK_INSTRUCTIONS = env(
    "BANK_INSTRUCTIONS",
    # marked, so the funds page shows the default in the visitor's language; a deployment's own text shows as set
    default=gettext_noop(
        "Transfer to Suanli Exchange Ltd. (demo account 6222 0000 0000 0000) with this reference in the "
        "remark (附言). Funds appear once the operator matches the transfer."
    ),
)

# The seller printed on invoices and credit notes.
SUANLI_INVOICE_SELLER = {
    "name": env("INVOICE_SELLER_NAME", default="Suanli Compute Exchange Ltd. (算力交易所)"),
    "tax_id": env("INVOICE_SELLER_TAX_ID", default="91310000DEMO00000X"),
    "address": env("INVOICE_SELLER_ADDRESS", default="Shanghai, China"),
    "bank": env("INVOICE_SELLER_BANK", default="demo account 6222 0000 0000 0000"),
}

# Exchange rules that the operator may tune per deployment (not the standard's numbers,
# which live in code beside the rule they belong to).
SUANLI_HEARTBEAT_FUTURE_TOLERANCE_SECONDS = env.int("HEARTBEAT_FUTURE_TOLERANCE", default=300)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "config.parsers.DecimalJSONParser",
    "rest_framework.parsers.FormParser",
    "rest_framework.parsers.MultiPartParser",
]
