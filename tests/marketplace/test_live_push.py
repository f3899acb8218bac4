"""Changes pushed to open pages (marketplace/live.py): matching publishes on Redis after its
batch commits, and /live/events streams it as server-sent events — a sync stream under WSGI
where allowed, an async one under ASGI (Django's AsyncClient here; a real uvicorn in
test_live_push_asgi.py)."""

import json
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient
from django.urls import reverse

from config.rediscache import cache_redis
from marketplace import live
from tests.marketplace.test_orders import match, place

pytestmark = pytest.mark.django_db

EVENTS = reverse("marketplace:live_events")


def heard(pubsub, seconds=3.0) -> dict[str, list[dict]]:
    """The messages on the subscribed channels within ``seconds`` of quiet, by channel."""
    got: dict[str, list[dict]] = {}
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        message = pubsub.get_message(timeout=0.2)
        if message is not None:
            got.setdefault(message["channel"].decode(), []).append(json.loads(message["data"]))
            ends = time.monotonic() + 0.5
    return got


@pytest.mark.redis
def test_matching_tells_the_instrument_and_the_organisations_whose_orders_changed(market):
    orgs, instrument = market["orgs"], market["instrument"]
    pubsub = cache_redis().pubsub(ignore_subscribe_messages=True)
    channels = {name: live.organisation_channel(org.pk) for name, org in orgs.items()}
    pubsub.subscribe(live.market_channel(instrument.pk), *channels.values())
    try:
        place(market, "gridco", "sell", 16, "12.00")
        place(market, "acme", "buy", 8, "12.10")
        assert heard(pubsub, 0.5) == {}  # accepted, not matched: nothing changed on the pages yet
        match(market)
        got = heard(pubsub)
    finally:
        pubsub.close()
    instrument.refresh_from_db()
    message = {"instrument": instrument.code, "seq": instrument.last_seq}  # matched up to the log's last
    assert got == {
        live.market_channel(instrument.pk): [message],
        channels["gridco"]: [message],
        channels["acme"]: [message],
    }  # WestDC and Bolt have no order here: nothing for them


@pytest.mark.redis
def test_nothing_matched_nothing_published(market):
    pubsub = cache_redis().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(live.market_channel(market["instrument"].pk))
    try:
        assert match(market) == 0
        assert heard(pubsub, 0.5) == {}
    finally:
        pubsub.close()


def test_the_stream_refuses_an_unknown_instrument_and_a_request_for_nothing(client, market):
    r = client.get(EVENTS, {"market": "H100-80G.NOPE.MAIN.20990101.W"})
    assert r.status_code == 404
    assert r.json()["code"] == "unknown_instrument" and list(r.json()["fields"]) == ["market"]
    r = client.get(EVENTS)  # anonymous, no instrument
    assert r.status_code == 400 and r.json()["code"] == "nothing_to_follow"


@pytest.mark.redis
def test_under_wsgi_with_fixed_threads_the_answer_is_204_and_the_page_polls(client, market, settings):
    settings.LIVE_PUSH_UNDER_WSGI = False  # gunicorn's gthread workers: a stream would hold a thread
    client.force_login(market["users"]["acme"])
    r = client.get(EVENTS, {"market": market["instrument"].code})
    assert r.status_code == 204 and not r.streaming


def test_without_redis_there_is_nothing_to_listen_to(client, market, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.LIVE_PUSH_UNDER_WSGI = True
    r = client.get(EVENTS, {"market": market["instrument"].code})
    assert r.status_code == 204


def events_in(chunks) -> list[dict]:
    """The events' data in a stream read to its end (keep-alive comments skipped): reading it out
    lets the test client close the response as a server would."""
    text = b"".join(chunks).decode()
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


@pytest.mark.redis
def test_under_wsgi_where_allowed_a_fill_reaches_the_open_orders_page(client, market, settings):
    settings.LIVE_PUSH_UNDER_WSGI = True  # runserver: a thread per connection
    settings.LIVE_KEEPALIVE_SECONDS, settings.LIVE_STREAM_SECONDS = 0.2, 2.0
    client.force_login(market["users"]["acme"])
    r = client.get(EVENTS)  # the orders page: the organisation's changes only
    assert r.status_code == 200 and r["Content-Type"] == "text/event-stream" and r["Cache-Control"] == "no-cache"
    chunks = iter(r.streaming_content)
    assert next(chunks) == live.HELLO  # subscribed before this is sent
    place(market, "gridco", "sell", 16, "12.00")
    place(market, "acme", "buy", 8, "12.10")
    match(market)
    assert events_in(chunks) == [{"instrument": market["instrument"].code, "seq": 3}]  # then the stream ended


@pytest.mark.redis
def test_an_organisation_hears_nothing_of_another_organisations_orders(client, market, settings):
    settings.LIVE_PUSH_UNDER_WSGI = True
    settings.LIVE_KEEPALIVE_SECONDS, settings.LIVE_STREAM_SECONDS = 0.2, 2.0
    client.force_login(market["users"]["bolt"])
    r = client.get(EVENTS)
    chunks = iter(r.streaming_content)
    assert next(chunks) == live.HELLO
    place(market, "gridco", "sell", 16, "12.00")
    place(market, "acme", "buy", 8, "12.10")
    match(market)
    assert events_in(chunks) == []  # keep-alives only


@pytest.mark.redis
def test_under_asgi_the_instrument_page_hears_a_trade(market, settings):
    settings.LIVE_KEEPALIVE_SECONDS, settings.LIVE_STREAM_SECONDS = 0.2, 2.0
    settings.LIVE_PUSH_UNDER_WSGI = False  # not asked under ASGI
    code = market["instrument"].code

    async def listen():
        response = await AsyncClient().get(EVENTS, {"market": code})  # anonymous: public market data
        assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
        chunks = aiter(response.streaming_content)
        assert await anext(chunks) == live.HELLO
        await trade()
        return events_in([chunk async for chunk in chunks])

    @sync_to_async
    def trade():
        place(market, "gridco", "sell", 16, "12.00")
        place(market, "acme", "buy", 8, "12.10")
        match(market)

    assert async_to_sync(listen)() == [{"instrument": code, "seq": 3}]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_stream_under_wsgi_holds_no_database_session_while_it_waits(client, market, settings):
    """runserver gives each stream a thread for LIVE_STREAM_SECONDS: its database connection is
    closed once the stream starts (the test client runs it in this thread, on this connection)."""
    from django.db import connection

    settings.LIVE_PUSH_UNDER_WSGI = True
    settings.LIVE_KEEPALIVE_SECONDS, settings.LIVE_STREAM_SECONDS = 0.2, 1.0
    client.force_login(market["users"]["acme"])
    r = client.get(EVENTS)
    assert connection.connection is not None  # the request read the session, the user and the organisation
    chunks = iter(r.streaming_content)
    assert next(chunks) == live.HELLO
    assert connection.connection is None
    list(chunks)  # to its end
