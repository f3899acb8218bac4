"""API plumbing shared by every app: pagination and throttling (no DRF views imported here: DRF's
settings import these classes while rest_framework.views loads)."""

from django.conf import settings
from rest_framework import pagination, throttling

from config.errors import ExchangeError


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class OrganisationRateThrottle(throttling.SimpleRateThrottle):
    """One bucket per organisation (API key or session's active organisation), else per user."""

    scope = "organisation"

    def get_rate(self):
        # Read at request time, not import time, so the operator's setting (and a test's) applies.
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]

    def get_cache_key(self, request, view):
        org = getattr(request, "organisation", None)
        if org is not None:
            ident = f"org-{org.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(request) -> str:
    """The request's ``Idempotency-Key`` header, scoped to the caller's organisation.

    Every money-moving POST requires one: a retry with the same key returns the first result,
    and the same key with other content is refused (``conflict``)."""
    key = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
    if not key or len(key) > 120:
        raise ExchangeError.on_field(
            IDEMPOTENCY_HEADER, "idempotency_key_required", "Send an Idempotency-Key header of 1 to 120 characters."
        )
    org = getattr(request, "organisation", None)
    return f"org{org.pk if org else 0}:{key}"
