"""Browser tests: Playwright for Python driving Debian's Chromium against a live server.

Fixtures shared by the journeys: the browser's path and flags, a desktop viewport, ``shoot``
(bilingual screenshots kept by CI under test-artifacts/screenshots/), a real Celery matching
worker on a Redis database of its own, and localstripe for card top-ups."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}  # a desktop; the guides' copies are this size
LANGUAGES = ("en", "zh-hans")  # as <html lang> says them, and the django_language cookie
# The browser's language (navigator.language, Accept-Language) as the page's, its clock in Shanghai.
BROWSER_LOCALES = {"en": "en-GB", "zh-hans": "zh-CN"}
BROWSER = {"viewport": VIEWPORT, "timezone_id": "Asia/Shanghai"}
BROKER_DB = 13  # the matching worker's and this process's own Redis database (the cache uses 15)
CJK = re.compile(r"[\u3400-\u9fff]")
# A word a user reads: three letters or more with lower case (not a code like H100-80G or API).
ENGLISH_WORD = re.compile(r"\b[A-Za-z][a-z]{2,}\b")
PROPER_NAMES = ("Stripe", "Suanli", "Visa")  # names, the same in both languages
CODE = re.compile(r"[\w.#-]*[:/][\w.:/#-]*")  # a reference such as hold:3, bank:E1, gridco/gridco-1


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="session", autouse=True)
def _connections_closed_before_playwright():
    """Close this thread's database connections before Playwright starts. Its sync API leaves
    the tests running in its event loop's context (contextvars), and Django keeps a connection
    per context: one opened before (by the tests that ran first) would stay open, out of reach,
    until the test database is dropped ("being accessed by 1 other session")."""
    from django.db import connections

    connections.close_all()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        message = f"browser tests need {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    }  # fmt: skip


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, **BROWSER, "locale": BROWSER_LOCALES["en"], "accept_downloads": True}


@pytest.fixture
def new_page(browser):
    """Another person at another computer: a page in a context of its own (closed at the end)."""
    contexts = []

    def new_page():
        context = browser.new_context(**BROWSER, locale=BROWSER_LOCALES["en"], accept_downloads=True)
        contexts.append(context)
        return context.new_page()

    yield new_page
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshots():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    UNTRANSLATED_REPORT.unlink(missing_ok=True)
    return SCREENSHOTS


def _known_data() -> list[str]:
    """Names people typed (organisations, pools, e-mails): they read the same in both languages."""
    from accounts.models import Organisation, User
    from catalog.models import Pool

    names = [*User.objects.values_list("email", flat=True)]
    for name, slug in Organisation.objects.values_list("name", "slug"):
        names += [name, slug]
    for code, name, city in Pool.objects.values_list("code", "name", "city"):
        names += [code, name, city]
    return sorted({n for n in [*names, *PROPER_NAMES] if n}, key=len, reverse=True)


# The text a page's own chrome shows (headings, column heads, labels, buttons), without the text
# of nested elements (a label's <select> options, a heading's <code>): what the catalogue translates.
TEXT_OF = """s => Array.from(document.querySelectorAll(s))
  .map(e => Array.from(e.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join(" ").trim())
  .filter(t => t)"""
CHROME = "main :is(h1, h2, h3, th, label, button, legend, dt, summary, caption)"
# The rest of what a page says (messages, explanations, errors, table cells): English left there is
# listed in test-artifacts/untranslated-zh-hans.txt for people to read, without failing the test
# (a cell may hold a name or a code the test cannot tell from a sentence).
PROSE = "main :is(p, li, td, dd, small, em, strong, span, div.error, .field-errors p)"
UNTRANSLATED_REPORT = ARTIFACTS / "untranslated-zh-hans.txt"


def untranslated(texts: list[str], data: list[str]) -> list[str]:
    """The texts with an English word and no Chinese once the names people typed are taken out."""
    found = []
    for text in texts:
        if CODE.fullmatch(text):
            continue
        rest = text
        for name in data:
            rest = rest.replace(name, " ")
        if not CJK.search(rest) and ENGLISH_WORD.search(rest):
            found.append(text)
    return found


@pytest.fixture
def shoot(screenshots, browser):
    """``shoot(page, name)``: full-page screenshots of the page in English and in Chinese, saved
    as ``test-artifacts/screenshots/<lang>/<name>.png`` (and a 1280×800 copy under
    ``screenshots/guide/<lang>/`` for the guides, see tests/e2e/guide_screenshots.py).

    The page under test is photographed as it is, in its language; the other language is opened
    in a second browser context with the same session and the ``django_language`` cookie set (as
    the language form of /i18n/setlang/ sets it). So the page under test is never reloaded (a
    live page keeps its state, a form posted is not posted again) and its language is left as it
    was. A page reached by a POST (a form with errors) is brought to the same state in the other
    language by ``redo(other_page)``; by default the other page opens the same URL.

    The Chinese copy must say it is Chinese (<html lang="zh-hans">), show Chinese in its <main>,
    and have no heading, column head, label or button left in English (names people typed, such
    as organisations and pools, excepted; more with ``data=``).

    ``guide_at`` (a CSS selector) scrolls the guide's 1280×800 copy to what the step is about (the
    order that filled, a difference); where nothing matches, the copy shows the top of the page."""

    def shoot(page, name, *, redo=None, data=(), guide_at=None):
        current = page.evaluate("document.documentElement.lang")
        assert current in LANGUAGES, current
        known = [*data, *_known_data()]
        for lang in LANGUAGES:
            if lang == current:
                _save(page, lang, name, guide_at)
                continue
            context = browser.new_context(**BROWSER, locale=BROWSER_LOCALES[lang])
            try:
                cookies = [c for c in page.context.cookies() if c["name"] != "django_language"]
                context.add_cookies([*cookies, {"name": "django_language", "value": lang, "url": page.url}])
                other = context.new_page()
                if redo is None:
                    other.goto(page.url)
                else:
                    redo(other)
                other.wait_for_load_state("networkidle")
                assert other.evaluate("document.documentElement.lang") == lang
                if lang == "zh-hans":
                    assert CJK.search(other.locator("main").inner_text()), f"{name}: no Chinese in <main>"
                    left = untranslated(other.evaluate(TEXT_OF, CHROME), known)
                    assert not left, f"{name}: left in English on the Chinese page: {left}"
                    _report(name, untranslated(other.evaluate(TEXT_OF, PROSE), known))
                _save(other, lang, name, guide_at)
            finally:
                context.close()

    return shoot


def _report(name, texts):
    with UNTRANSLATED_REPORT.open("a", encoding="utf-8") as report:
        for text in dict.fromkeys(texts):
            report.write(f"{name}: {' '.join(text.split())}\n")


def _save(page, lang, name, guide_at=None):
    page.evaluate("document.activeElement && document.activeElement.blur()")  # no focus ring
    page.screenshot(path=SCREENSHOTS / lang / f"{name}.png", full_page=True)
    scrolled = guide_at is not None and page.evaluate(
        "s => { const e = document.querySelector(s); if (e) e.scrollIntoView({block: 'center'}); return !!e; }",
        guide_at,
    )
    page.screenshot(path=SCREENSHOTS / "guide" / lang / f"{name}.png", full_page=False)
    if scrolled:
        page.evaluate("window.scrollTo(0, 0)")


@pytest.fixture
def matching_worker(live_server, tmp_path, monkeypatch):
    """A real matching worker (``celery worker -Q matching-0,matching-1``) on the test database;
    the live server's acceptances reach it after they commit, as in production.

    The worker and this process talk through a Redis database of their own (not the one in
    REDIS_URL): other runs leave matching tasks for their own databases on the shared queues, and
    another engineer's worker must neither take ours nor hand us theirs."""
    import redis
    from django.conf import settings
    from django.db import connection

    from config.celery import app

    broker = urlunsplit(urlsplit(settings.REDIS_URL)._replace(path=f"/{BROKER_DB}"))
    redis.Redis.from_url(broker).flushdb()
    # Celery reads CELERY_BROKER_URL from the environment before its configuration; the producer
    # pools are built on first use, so they are dropped here and built again for this broker.
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": broker,
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(  # noqa: S603 (our own worker, fixed arguments)
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", "matching-0,matching-1",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", "e2e@%h",
             "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        started = wait_for(lambda: worker.poll() is not None or " ready." in log_path.read_text(), 60)
        assert started and worker.poll() is None, log_path.read_text()[-3000:]
        yield log_path
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe_url():
    """localstripe on a free loopback port, from scratch (Stripe's API without the internet)."""
    exe = shutil.which("localstripe") or str(Path(sys.executable).parent / "localstripe")
    if not Path(exe).exists():
        pytest.skip("localstripe is not installed (pip install localstripe)")
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 (our own venv's localstripe, fixed arguments)
        [exe, "--port", str(port), "--from-scratch"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:

        def listening():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        if not wait_for(listening, 20):
            pytest.fail("localstripe did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def localstripe(settings, localstripe_url):
    """Card top-ups on the funds page go to localstripe (test mode: the page offers test cards)."""
    settings.STRIPE_API_BASE = localstripe_url
    settings.STRIPE_SECRET_KEY = "sk_test_suanli"
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="stripe")
    return localstripe_url


# --- a small wholesale market (the trading and live-push journeys) ---------------------------------

PRICE = Decimal("12.35")  # on the 0.01 tick, inside the band
HOURS = 168  # a week's window
FUNDED = Decimal("1000000.00")


@pytest.fixture
def exchange(make_org, reference_data, operator):
    """A provider with a connected pool of 64 H100 in YRD/MAIN, a funded buyer, next week's H100
    instrument listed (as tests/marketplace's ``market``, which that folder's conftest keeps)."""
    from marketplace.services import instrument_ensure
    from settlement.selectors import ledger_check_run
    from settlement.services import bank_reference_for, bank_transfer_record
    from tests.marketplace.conftest import connected_pool, next_week_code

    gridco_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    bank_transfer_record(
        actor=operator, reference=bank_reference_for(organisation=acme).code, amount=FUNDED, bank_transaction_id="E1"
    )
    pool = connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-1")
    instrument = instrument_ensure(code=next_week_code())
    assert instrument.window_hours == HOURS and instrument.tick == Decimal("0.01")
    assert instrument.reference_price * Decimal("0.5") <= PRICE <= instrument.reference_price * 3
    yield {"instrument": instrument, "pool": pool, "users": {"gridco": gridco_user, "acme": acme_user},
           "orgs": {"gridco": gridco, "acme": acme}}  # fmt: skip
    report = ledger_check_run(store=False)
    assert report["ok"], report
