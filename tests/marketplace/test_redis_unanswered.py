"""A Redis that takes connections and never answers (a real TCP peer on loopback, not a mock), or
refuses them, costs a bounded wait, by the cache's Redis options (``REDIS_OPTIONS``): an order is still accepted and
its request answered, and a committed matching batch still returns. What Redis was to carry is
covered elsewhere: the backlog sweep matches the order, the pages' timers fetch the changes. An
API request whose throttle cannot count is refused with 503 and a reason, having done nothing."""

import socket
import threading
from contextlib import contextmanager

import pytest
from django.db import connections

from accounts.services import api_key_create
from marketplace.models import Order, OrderStatus, Trade
from tests.marketplace.test_orders import match, place

SECONDS = 0.3  # each Redis call's bound here (REDIS_TIMEOUT_SECONDS in production)
BOUND = 10 * SECONDS  # the call under test makes one or two: well under redis-py's own 5 s (8.0 on)


@contextmanager
def redis_that_never_answers(settings, *, refuses: bool = False):
    """The cache pointed, for the block, at a socket on loopback that listens and never reads
    (connecting succeeds, every reply is awaited until the client's timeout), or, ``refuses``,
    that does not listen (every connection is refused at once)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    if not refuses:
        server.listen(64)
    options, caches = {name: SECONDS for name in settings.REDIS_OPTIONS}, settings.CACHES
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{server.getsockname()[1]}/0",
            "OPTIONS": options,
        }
    }
    try:
        yield
    finally:
        settings.CACHES = caches
        server.close()


def within(seconds, call):
    """``call()`` in a thread (its own database connection), which must end within ``seconds``:
    with no bound of ours on Redis calls it would wait for redis-py's default (for ever, in
    versions before 8.0, which pyproject accepts)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting on Redis after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.mark.django_db(transaction=True)
def test_an_order_is_accepted_when_redis_does_not_answer_its_wake_up(market, settings, caplog):
    settings.MATCHING_DISPATCH = True
    with redis_that_never_answers(settings):
        order = within(BOUND, lambda: place(market, "acme", "buy", 8, "12.10"))
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING  # accepted: the sweep matches it
    assert "on_commit" in caplog.text  # the failed wake-up is logged


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refuses", [True, False], ids=["refused", "silent"])
def test_a_matching_run_commits_and_returns_when_redis_cannot_be_told(market, settings, caplog, refuses):
    settings.MATCHING_DISPATCH = False
    place(market, "gridco", "sell", 16, "12.00")
    bid = place(market, "acme", "buy", 8, "12.10")
    with redis_that_never_answers(settings, refuses=refuses):
        assert within(BOUND, lambda: match(market)) == 2
    assert Trade.objects.count() == 1  # committed before the publish was tried
    bid.refresh_from_db()
    assert bid.status == "filled"  # the pages' timers will show it
    assert "could not publish" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_503_with_a_reason_when_its_throttle_cannot_count(market, settings, api):
    _, token = api_key_create(actor=market["users"]["acme"], organisation=market["orgs"]["acme"], name="acme-erp",
                              scopes=["orders:read", "orders:write"])  # fmt: skip
    order = {"instrument": market["instrument"].code, "side": "buy", "type": "limit", "price": "12.00", "qty": 8,
             "tif": "GTC"}  # fmt: skip
    with redis_that_never_answers(settings):
        response = within(BOUND, lambda: api(token=token).post("/api/v1/orders/", order, HTTP_IDEMPOTENCY_KEY="k1"))
    assert response.status_code == 503, response.content
    assert (response.json()["code"], response["Retry-After"]) == ("temporarily_unavailable", "5")
    assert not Order.objects.exists()  # refused before anything was done: the retry places it
    assert api(token=token).post("/api/v1/orders/", order, HTTP_IDEMPOTENCY_KEY="k1").status_code == 201
