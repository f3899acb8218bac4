"""The operator's journey in a real browser: sign in with the second factor, verify a pool from
the console, supervise the provider (the organisations page, its detail), look at the
reconciliation and the audit log — and the same console pages again in Chinese, each one saved
as a screenshot in both languages."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Organisation
from catalog.fleet import LOCAL
from catalog.models import Pool, PoolStatus
from catalog.services import pool_apply, reference_data_load
from marketplace.services import OrderTerms, books_forget, instrument_ensure, instrument_match, order_place
from settlement.services import bank_reference_for, bank_transfer_record
from tests.conftest import OPERATOR_TOTP_SECRET, descriptor
from tests.e2e.steps import sign_in
from tests.factories import OrganisationFactory, UserFactory
from tests.marketplace.conftest import connected_pool, next_week_code

# (days ago, local hour, price): a week of H100 trades for the overview's charts
TRADES = [(6, 10, "12.00"), (4, 11, "12.20"), (3, 15, "12.10"), (1, 9, "12.40"), (0, 0, "12.30")]


def trade_a_week(monkeypatch, *, operator, provider, buyer):
    """Next week's H100 traded on five of the last seven local days, 8 units each, with the
    clock (the one true boundary) set to each day while the orders are placed and matched."""
    (provider_user, provider_org), (buyer_user, buyer_org) = provider, buyer
    connected_pool(user=provider_user, organisation=provider_org, operator=operator, code="gridco-1")
    bank_transfer_record(actor=operator, reference=bank_reference_for(organisation=buyer_org).code,
                         amount=Decimal("1000000.00"), bank_transaction_id="IN-1")  # fmt: skip
    instrument = instrument_ensure(code=next_week_code())
    today = timezone.now().astimezone(LOCAL).date()
    real_now = timezone.now
    for n, (days_ago, hour, price) in enumerate(TRADES):
        day = today - timedelta(days=days_ago)
        at = min(datetime(day.year, day.month, day.day, hour, 5, tzinfo=LOCAL), real_now())
        monkeypatch.setattr(timezone, "now", lambda at=at: at)
        for side, (user, org) in (("sell", (provider_user, provider_org)), ("buy", (buyer_user, buyer_org))):
            terms = OrderTerms(instrument=instrument.code, side=side, type="limit", qty=8, tif="GTC",
                               price=Decimal(price))  # fmt: skip
            order_place(actor=user, organisation=org, terms=terms, idempotency_key=f"{side}-{n}")
        instrument_match(instrument_id=instrument.pk)
    monkeypatch.setattr(timezone, "now", real_now)


pytestmark = [pytest.mark.django_db(transaction=True)]


def test_operator_verifies_supervises_and_reconciles(live_server, page, screenshots, monkeypatch):
    reference_data_load()
    books_forget()
    base = live_server.url
    operator = UserFactory(email="operator@e2e.test")
    platform = Organisation.objects.create(name="Suanli", slug="suanli", is_platform=True, is_buyer=False)
    Membership.objects.create(user=operator, organisation=platform, role="owner")
    TOTP.activate(operator, OPERATOR_TOTP_SECRET)
    founder = UserFactory(email="founder@lingang.test")
    lingang = OrganisationFactory(name="Lingang Compute", slug="lingang", is_provider=True, is_buyer=False)
    Membership.objects.create(user=founder, organisation=lingang, role="owner")
    pool = pool_apply(actor=founder, organisation=lingang, descriptor=descriptor(code="lingang-1"))
    gridco_user, acme_user = UserFactory(), UserFactory()
    gridco = OrganisationFactory(name="GridCo", slug="gridco", is_provider=True, is_buyer=False)
    acme = OrganisationFactory(name="Acme AI", slug="acme")
    Membership.objects.create(user=gridco_user, organisation=gridco, role="owner")
    Membership.objects.create(user=acme_user, organisation=acme, role="owner")
    trade_a_week(monkeypatch, operator=operator, provider=(gridco_user, gridco), buyer=(acme_user, acme))

    # Sign in with password and authenticator code
    sign_in(page, base, email=operator.email, totp=True)

    # The console: one pool waits; verify it with a reason
    page.goto(f"{base}/operator/")
    assert page.locator("#count-awaiting").inner_text() == "1"
    page.click("text=lingang-1")
    page.fill("form:has(button:text('Verify')) textarea[name=reason]", "Site inspection passed")
    page.click("button:text('Verify')")
    assert "Done: verify." in page.content()
    assert Pool.objects.get(pk=pool.pk).status == PoolStatus.VERIFIED
    page.goto(f"{base}/operator/")
    assert page.locator("#count-awaiting").inner_text() == "0"
    assert page.locator("svg.chart").count() >= 4
    assert page.locator("svg[aria-label='Units traded per day'] rect title", has_text=": 8").count() == 5
    page.screenshot(path=screenshots / "operator-overview-en.png", full_page=True)

    # Supervision: find the provider, open it
    page.click("nav.actions >> text=Organisations")
    page.fill("input[name=q]", "lingang")
    page.click("main button:text('Search')")
    assert page.locator("#organisations tbody tr").count() == 1
    page.screenshot(path=screenshots / "operator-organisations-en.png", full_page=True)
    page.click("#organisations >> text=Lingang Compute")
    assert page.locator("h1").inner_text().startswith("Lingang Compute")
    assert "lingang-1" in page.locator("main").inner_text()
    page.screenshot(path=screenshots / "operator-organisation-en.png", full_page=True)

    # Reconciliation of last month, and the audit log with the verification in it
    page.click("nav.actions >> text=Reconciliation")
    assert page.url.startswith(f"{base}/operator/reconciliation/")
    page.screenshot(path=screenshots / "operator-reconciliation-en.png", full_page=True)
    page.click("nav.actions >> text=Audit log")
    page.fill("input[name=action]", "pool.verify")
    page.fill("input[name=organisation]", "lingang")
    page.click("main button:text('Filter')")
    rows = page.locator("#audit tbody tr")
    assert rows.count() == 1 and "Site inspection passed" in rows.first.inner_text()
    page.screenshot(path=screenshots / "operator-audit-en.png", full_page=True)
    assert AuditEvent.objects.filter(action="pool.verify", organisation=lingang, actor=operator).count() == 1

    # The same console in Chinese
    with page.expect_navigation():
        page.select_option("#lang", "zh-hans")  # the switch submits itself
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    page.goto(f"{base}/operator/")
    assert page.locator("h1").inner_text() == "运营控制台（统一监管）"
    page.screenshot(path=screenshots / "operator-overview-zh.png", full_page=True)
    page.goto(f"{base}/operator/organisations/")
    assert "机构" in page.locator("h1").inner_text()
    page.screenshot(path=screenshots / "operator-organisations-zh.png", full_page=True)
    page.goto(f"{base}/operator/organisations/lingang/")
    page.screenshot(path=screenshots / "operator-organisation-zh.png", full_page=True)
    page.goto(f"{base}/operator/reconciliation/")
    assert "对账" in page.content()
    page.screenshot(path=screenshots / "operator-reconciliation-zh.png", full_page=True)
    page.goto(f"{base}/operator/audit/")
    assert page.locator("h1").inner_text() == "审计日志"
    page.screenshot(path=screenshots / "operator-audit-zh.png", full_page=True)
