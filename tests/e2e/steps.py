"""Steps the journeys share: what a person does on the site (sign up, sign in, fill a form) and
what a machine does on the API (heartbeats, usage). The pages are driven by URL, by accessible
role and label text and by form field names, never by layout, so a restyled page still passes."""

import io
import json
import re
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.conftest import PASSWORD, totp_code

LIVE = 30_000  # ms: a matching worker's round trip plus a live poll or two


def yuan(amount: Decimal) -> re.Pattern:
    """An amount as pages show it: ¥ and the fen, with or without thousands separators, a negative
    as ¥-2.40 or −¥2.40 (both are on main while the pages move to the ``yuan`` filter)."""
    whole, fen = f"{abs(amount):.2f}".split(".")
    grouped = f"{int(whole):,}".replace(",", ",?")
    if amount < 0:
        return re.compile(rf"(?:¥-|[−-]¥){grouped}\.{fen}\b")
    return re.compile(rf"(?<![−-])¥{grouped}\.{fen}\b")


def local_minute(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def next_minutes(minutes: int = 2):
    """A start a couple of minutes ahead: still in the future when the person confirms."""
    return timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=minutes)


def messages(page):
    """The page's flash messages (a list with role=status)."""
    return page.locator("main ul.messages li, main [role=status] li")


def sign_up(page, base, *, email, password):
    """Sign up with allauth and confirm the address from the link in the e-mail."""
    page.goto(f"{base}/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", password)
    page.fill("input[name=password2]", password)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/signup/" not in url)
    sent = [m for m in mail.outbox if email in m.to]
    assert sent, [m.to for m in mail.outbox]
    link = re.search(r"http://\S+/accounts/confirm-email/\S+", sent[-1].body.replace("=\n", "")).group(0)
    page.goto(re.sub(r"^http://[^/]+", base, link))
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/confirm-email/" not in url)


def sign_in(page, base, *, email, password=PASSWORD, totp=False):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    if totp:
        page.fill("input[name=code]", totp_code(margin=8))  # a browser's fill and click take a while
        page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url and "/accounts/2fa/" not in url)


def create_organisation(page, base, *, name, buyer, provider):
    page.goto(f"{base}/organisations/new/")
    page.fill("input[name=name]", name)
    page.set_checked("input[name=is_buyer]", buyer)
    page.set_checked("input[name=is_provider]", provider)
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text(name)


def form_with(page, button):
    """The form that has this button (a form is found by what it does, not where it sits)."""
    return page.locator("form", has=page.get_by_role("button", name=button, exact=True))


def place_order(page, *, side, price, qty, tif="GTC"):
    """Fill the instrument page's order ticket; the accepted order's id."""
    ticket = form_with(page, "Place order")
    ticket.locator("select[name=side]").select_option(side)
    ticket.locator("select[name=type]").select_option("limit")
    ticket.locator("input[name=price]").fill(str(price))
    ticket.locator("input[name=qty]").fill(str(qty))
    ticket.locator("select[name=tif]").select_option(tif)
    ticket.get_by_role("button", name="Place order").click()
    accepted = messages(page).filter(has_text="accepted")
    expect(accepted).to_be_visible()
    return int(re.search(r"#(\d+)", accepted.inner_text()).group(1))


def row_with_cell(page, text, *, column=None):
    """The table row that has a cell reading exactly ``text`` (an order, invoice or pool id); in
    a table with the column head ``column`` when given (an order id may also be a trade's number)."""
    tables = page.locator("main table")
    if column is not None:
        tables = tables.filter(has=page.get_by_role("columnheader", name=column, exact=True))
    return tables.get_by_role("row").filter(has=page.get_by_role("cell", name=text, exact=True))


def order_row(page, order_id):
    """An order of one's own, in a table of orders (one with a "Side" column; the orders page's
    table of recent fills has one too, and names the order in its rows: those are left out)."""
    tables = page.locator("main table").filter(has=page.get_by_role("columnheader", name="Side", exact=True))
    return tables.locator("tr:not([data-fill])").filter(has=page.get_by_role("cell", name=str(order_id), exact=True))


def mark_page(page):
    """A flag on the page's window: it survives until the page is reloaded or left."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def api(base, method, path, key, body=None, idempotency_key=None):
    """(status, decoded JSON) of a partner's request with its API key."""
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def api_post(base, path, key, body):
    return api(base, "POST", path, key, body)


def heartbeat(base, *, pool_id, key, available):
    body = {"ts": timezone.now().isoformat(), "available": available, "health": "ok"}
    return api_post(base, f"/api/v1/pools/{pool_id}/heartbeats/", key, body)


def pdf_text(path) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(Path(path).read_bytes())).pages)
