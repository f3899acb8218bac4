"""/live/events under a real ASGI server (uvicorn, as production serves it): a browser-like
client holds the stream open while this process places and matches orders, and the change
arrives as a server-sent event; meanwhile the same server keeps answering other requests (a
stream holds no thread)."""

import http.client
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from tests.e2e.conftest import wait_for
from tests.marketplace.test_orders import match, place

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def asgi_server(tmp_path, settings):
    """uvicorn serving config.asgi on the test database and the test's Redis, one worker."""
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "LIVE_KEEPALIVE_SECONDS": "0.2",
        "LIVE_STREAM_SECONDS": "20",
        "LIVE_PUSH_UNDER_WSGI": "false",
    }
    log_path = tmp_path / "uvicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(  # noqa: S603 (our own venv's uvicorn, fixed arguments)
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
             "--lifespan", "off", "--no-access-log"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        assert wait_for(lambda: server.poll() is not None or "Uvicorn running" in log_path.read_text(), 60), (
            log_path.read_text()[-3000:]
        )
        assert server.poll() is None, log_path.read_text()[-3000:]
        yield port
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def test_a_trade_reaches_an_open_stream_and_the_server_goes_on_answering(asgi_server, market):
    code = market["instrument"].code
    stream = http.client.HTTPConnection("127.0.0.1", asgi_server, timeout=10)
    stream.request("GET", f"/live/events?market={code}", headers={"Accept": "text/event-stream"})
    response = stream.getresponse()
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    assert response.readline() == b"retry: 2000\n"  # subscribed before the first line is sent

    other = http.client.HTTPConnection("127.0.0.1", asgi_server, timeout=10)  # while the stream is open
    other.request("GET", f"/market/{code}/live.json")
    assert other.getresponse().status == 200

    place(market, "gridco", "sell", 16, "12.00")
    place(market, "acme", "buy", 8, "12.10")
    match(market)
    data = None
    while data is None:  # keep-alive comments until the event (the socket's timeout bounds the wait)
        line = response.readline()
        assert line, "the stream ended before the event"
        if line.startswith(b"data: "):
            data = json.loads(line[6:])
    assert data == {"instrument": code, "seq": 3}
    stream.close()
    other.close()
