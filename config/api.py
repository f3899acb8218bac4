"""API plumbing shared by every app: pagination and throttling (no DRF views imported here: DRF's
settings import these classes while rest_framework.views loads)."""

from django.conf import settings
from rest_framework import pagination, throttling

from config.errors import ExchangeError
from config.rediscache import cache_redis


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class OrganisationRateThrottle(throttling.SimpleRateThrottle):
    """One bucket per organisation (API key or session's active organisation), else per user.

    Counted in windows of the rate's period: a request passes while this window's count plus the
    previous window's, weighted by the part of it still less than one period ago, is under the
    rate (a sliding window, approximated). Two small counters per organisation, read in one cache
    call and increased atomically, whatever the rate (DRF's own throttle keeps, reads and writes
    back a list of every request's time in the period)."""

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

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        current, previous = f"{key}:{window}", f"{key}:{window - 1}"
        client = cache_redis(self.cache)
        if client is not None:
            return self._allow_redis(client, current, previous, window)
        counts = self.cache.get_many([previous, current])
        self.counts = (counts.get(previous, 0), counts.get(current, 0))
        self.elapsed = self.now - window * self.duration
        if self.counts[0] * (1 - self.elapsed / self.duration) + self.counts[1] >= self.num_requests:
            return self.throttle_failure()
        if current in counts or not self.cache.add(current, 1, 2 * self.duration):
            try:
                self.cache.incr(current)
            except ValueError:  # gone since (expired, or the cache was cleared)
                self.cache.add(current, 1, 2 * self.duration)
        return True

    def _allow_redis(self, client, current: str, previous: str, window: int) -> bool:
        """The same rule in one round trip to Redis: read the previous window's count and count
        this request in the current one (created with its expiry if new), then take it back if
        the request is refused. (Django's cache client made three round trips — a read, whether
        the key exists, the increment — and a new Redis client object for each call.)"""
        make_key = self.cache.make_and_validate_key
        previous_key, current_key = make_key(previous), make_key(current)
        pipe = client.pipeline(transaction=False)
        pipe.get(previous_key)
        pipe.set(current_key, 0, ex=int(2 * self.duration), nx=True)
        pipe.incr(current_key)
        before, _, now_count = pipe.execute()
        self.counts = (int(before or 0), now_count - 1)
        self.elapsed = self.now - window * self.duration
        if self.counts[0] * (1 - self.elapsed / self.duration) + self.counts[1] >= self.num_requests:
            client.decr(current_key)  # a refused request is not counted
            return self.throttle_failure()
        return True

    def wait(self):
        """Seconds until the weighted count falls under the rate (at the latest, the next window)."""
        previous, current = self.counts
        if current >= self.num_requests or not previous:
            return self.duration - self.elapsed
        # previous × (1 − t/duration) + current < num_requests from t on
        return max(self.duration * (1 - (self.num_requests - current) / previous) - self.elapsed, 1.0)


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
