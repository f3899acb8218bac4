"""Pushing changes to open pages: matching says what changed, pages hear it at once.

After a matching batch commits, the worker publishes on Redis one message for the instrument
(its book, tape and charts changed) and one for each organisation whose orders changed (state or
fills). ``GET /live/events`` streams those messages to a browser as server-sent events, the
instrument's (``?market=CODE``) and the signed-in organisation's; the page then fetches its
``live.json`` as its timer did. A message names what changed, never what it is (an instrument
code and the log's sequence number): the data still comes from the endpoints that check who
asks.

A stream holds its connection open, so it needs a server that does not give each connection a
thread: under ASGI (uvicorn) it is an ``async`` generator on ``redis.asyncio``. Under WSGI it is
served only where ``LIVE_PUSH_UNDER_WSGI`` allows it (runserver, which starts a thread per
connection); elsewhere (gunicorn's fixed threads) the answer is 204, which tells the browser not
to reconnect, and the pages keep polling. Without Redis there is nothing to listen to: 204 too.
Each stream ends after ``LIVE_STREAM_SECONDS``; the browser reconnects by itself."""

import json
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator

from django.conf import settings
from django.db import connections
from redis.exceptions import RedisError

from config.rediscache import cache_redis

logger = logging.getLogger(__name__)

PREFIX = "suanli:live:"


def market_channel(instrument_id: int) -> str:
    return f"{PREFIX}market:{instrument_id}"


def organisation_channel(organisation_id: int) -> str:
    return f"{PREFIX}org:{organisation_id}"


def changes_publish(*, instrument_id: int, code: str, seq: int, organisation_ids: Iterable[int]) -> None:
    """Tell open pages that the instrument, and these organisations' orders on it, changed up to
    ``seq``: one round trip. Call it after the change committed. A page that misses it still
    polls, so a failure here is logged, never raised (matching must not stop for it)."""
    client = cache_redis()
    if client is None:
        return
    message = json.dumps({"instrument": code, "seq": seq})
    try:
        pipe = client.pipeline(transaction=False)
        pipe.publish(market_channel(instrument_id), message)
        for organisation_id in sorted(set(organisation_ids)):
            pipe.publish(organisation_channel(organisation_id), message)
        pipe.execute()
    except RedisError:  # down or slow: the pages' timers still look
        logger.warning("live: could not publish the changes of %s", code, exc_info=True)


def stream(channels: list[str], *, asgi: bool) -> Iterator[bytes] | AsyncIterator[bytes] | None:
    """The events on ``channels`` for a server of that kind, or None where none can be served
    (no Redis; WSGI with fixed threads unless ``LIVE_PUSH_UNDER_WSGI``)."""
    if cache_redis() is None or not (asgi or settings.LIVE_PUSH_UNDER_WSGI):
        return None
    return stream_async(channels) if asgi else stream_sync(channels)


HELLO = b"retry: 2000\n: listening\n\n"  # the browser's reconnection delay, and the headers sent now
KEEPALIVE = b": keepalive\n\n"  # a comment: keeps proxies from closing an idle stream


def _frame(message: dict | None) -> bytes:
    """What a stream sends for a pub/sub message, or for none within the keep-alive time."""
    if message is None:
        return KEEPALIVE
    data = message["data"]
    return b"event: change\ndata: " + (data if isinstance(data, bytes) else str(data).encode()) + b"\n\n"


def _release_database() -> None:
    """Close this thread's database connections: a stream under WSGI keeps its thread for
    ``LIVE_STREAM_SECONDS`` and reads nothing from the database, so without this every open page
    would hold a PostgreSQL session idle that long. Not inside a transaction (a test's)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def stream_sync(channels: list[str]) -> Iterator[bytes]:
    """The events on ``channels`` (WSGI: one thread for the stream's life, and no database
    connection: the response's middleware has run when the server starts reading this)."""
    _release_database()
    pubsub = cache_redis().pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(*channels)
        yield HELLO
        ends = time.monotonic() + settings.LIVE_STREAM_SECONDS
        while (left := ends - time.monotonic()) > 0:
            yield _frame(pubsub.get_message(timeout=min(left, settings.LIVE_KEEPALIVE_SECONDS)))
    finally:
        pubsub.close()


async def stream_async(channels: list[str]) -> AsyncIterator[bytes]:
    """The events on ``channels`` (ASGI: no thread held while it waits)."""
    from redis.asyncio import Redis

    # the server cache_redis() talks to, connecting within the same bound (a stream's reads wait on
    # purpose: each up to the keep-alive time)
    client = Redis.from_url(
        settings.CACHES["default"]["LOCATION"], socket_connect_timeout=settings.REDIS_TIMEOUT_SECONDS
    )
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(*channels)
        yield HELLO
        ends = time.monotonic() + settings.LIVE_STREAM_SECONDS
        while (left := ends - time.monotonic()) > 0:
            yield _frame(await pubsub.get_message(timeout=min(left, settings.LIVE_KEEPALIVE_SECONDS)))
    finally:
        await pubsub.aclose()
        await client.aclose()
