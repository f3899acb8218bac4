"""The operator console (统一监管): the market overview's figures on a small fixture, supervision
of organisations, the order-log download, the audit log and its filters, and that every operator
action writes an audit event."""

import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Organisation
from catalog.fleet import LOCAL, FleetCell, fleet_now, utilisation_by_day
from catalog.models import CapacityCommitment, Pool, PoolStatus
from catalog.services import capacity_commit, pool_apply, pool_suspend, pool_verify
from marketplace import market as market_data
from marketplace.models import Trade
from settlement.services import account_for, bank_reference_for, bank_transfer_record
from tests.conftest import descriptor, sign_in
from tests.ledger import _ledger_checked_after_every_test  # noqa: F401 (autouse fixture)
from tests.marketplace.conftest import _fresh_books, connected_pool, market  # noqa: F401 (fixtures)
from tests.marketplace.test_market_data import T3, YESTERDAY, clock, scenario  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def op(operator):
    c = Client()
    sign_in(c, operator)
    return c


# --- the market overview's figures --------------------------------------------------------------


@pytest.fixture
def fleet(make_org, reference_data, operator):
    """Connected: 64 H100 in YRD/MAIN, 32 H100 in GBA/EDGE, 128 vCPU in YRD/MAIN; one pool only
    applied (not counted). 16 H100 of the YRD pool committed from day D 00:00 to D+1 12:00 local,
    8 more on day D 06:00–18:00, released at 12:00."""
    user, org = make_org(provider=True, slug="gridco", name="GridCo")
    yrd = connected_pool(user=user, organisation=org, operator=operator, code="yrd-1", units=64)
    connected_pool(user=user, organisation=org, operator=operator, code="gba-1", units=32, region="GBA", tier="EDGE")
    connected_pool(user=user, organisation=org, operator=operator, code="cpu-1", units=128, cls="VCPU-X86")
    pool_apply(actor=user, organisation=org, descriptor=descriptor(code="waiting-1"))
    today = timezone.now().astimezone(LOCAL).date()
    day = datetime(today.year, today.month, today.day, tzinfo=LOCAL) - timedelta(days=3)  # in the last 14 days
    long = capacity_commit(pool_id=yrd.pk, resource_class="H100-80G", kind="committed", units=16, start=day,
                           end=day + timedelta(hours=36), source="contract:1:pool:1")  # fmt: skip
    short = capacity_commit(pool_id=yrd.pk, resource_class="H100-80G", kind="committed", units=8,
                            start=day + timedelta(hours=6), end=day + timedelta(hours=18),
                            source="contract:2:pool:1")  # fmt: skip
    offered = capacity_commit(pool_id=yrd.pk, resource_class="H100-80G", kind="offered", units=4, start=day,
                              end=day + timedelta(hours=36), source="order:9")  # fmt: skip
    CapacityCommitment.objects.filter(pk__in=[long.pk, short.pk, offered.pk]).update(created_at=day - timedelta(days=1))
    CapacityCommitment.objects.filter(pk=short.pk).update(released_at=day + timedelta(hours=12))
    return {"day": day, "org": org, "user": user}


def test_capacity_by_region_tier_and_kind_now(fleet):
    at = fleet["day"] + timedelta(hours=8)  # both commitments hold then
    assert fleet_now(now=at) == [
        FleetCell("GBA", "EDGE", "gpu", 32, 0),
        FleetCell("YRD", "MAIN", "cpu", 128, 0),
        FleetCell("YRD", "MAIN", "gpu", 64, 24),
    ]
    assert fleet_now(now=at)[2].utilisation == Decimal("0.3750")
    later = fleet_now(now=fleet["day"] + timedelta(hours=13))  # the short one was released at 12:00
    assert later[2].committed == 16


def test_utilisation_per_local_day_counts_what_was_held_that_day(fleet):
    day = fleet["day"].date()
    now = fleet["day"] + timedelta(hours=42)  # day D+1, 18:00 local
    rows = {(r.day, r.kind): r for r in utilisation_by_day(first=day - timedelta(days=1), last=day + timedelta(days=1),
                                                          now=now)}  # fmt: skip
    # the day before: nothing held; 96 GPU × 24 h installed
    before = rows[(day - timedelta(days=1), "gpu")]
    assert (before.installed_hours, before.committed_hours, before.utilisation) == (2304, 0, Decimal("0.0000"))
    # day D: 16 × 24 h + 8 × 6 h (06:00 until released at 12:00) = 432 of 2,304 unit-hours
    d = rows[(day, "gpu")]
    assert (d.installed_hours, d.committed_hours, d.utilisation) == (2304, 432, Decimal("0.1875"))
    # day D+1 up to 18:00: 16 × 12 h = 192 of 96 × 18 = 1,728
    d1 = rows[(day + timedelta(days=1), "gpu")]
    assert (d1.installed_hours, d1.committed_hours, d1.utilisation) == (1728, 192, Decimal("0.1111"))
    assert rows[(day, "cpu")].utilisation == Decimal("0.0000")


def test_overview_shows_the_heat_table_and_counts(fleet, op, operator):
    pool_suspend(actor=operator, pool_id=Pool.objects.get(code="gba-1").pk, reason="maintenance overdue")
    r = op.get("/operator/")
    assert r.status_code == 200
    page = r.content.decode()
    assert 'id="count-awaiting">1<' in page and 'id="count-suspended">1<' in page
    assert 'id="count-differences">0<' in page
    assert "the ledger checker has not run yet" in page
    gpu = next(t for t in r.context["fleet"] if t["kind"] == "gpu")
    assert (gpu["installed"], gpu["committed"]) == (64, 0)  # the GBA pool is suspended now: not connected
    assert 'data-cell="YRD-MAIN"' in page and "64 / 0" in page
    assert "waiting-1" in page  # the pool awaiting verification, linked
    # utilisation per day of the GPU connected now (64 in YRD): day D (16 × 24 h + 8 × 6 h) ÷ (64 × 24 h)
    d, d1 = fleet["day"].date(), fleet["day"].date() + timedelta(days=1)
    assert f'<td>{d:%Y-%m-%d}</td><td class="num">0.0%</td><td class="num">28.1%</td>' in page  # vCPU, GPU
    assert f'<td>{d1:%Y-%m-%d}</td><td class="num">0.0%</td><td class="num">12.5%</td>' in page  # 16 × 12 h
    op.post("/operator/money/ledger-check/")
    assert "ledger consistent (checked" in op.get("/operator/").content.decode()


def test_volume_and_scu_index_per_day_over_30_days(scenario, op):  # noqa: F811 (the fixture imported above)
    today = market_data.local_today()
    days, per_region = market_data.market_by_day(first=today - timedelta(days=29), last=today)
    assert len(days) == 30 and days[-1].day == today
    by_day = {d.day: d for d in days}
    cpu_trade = Trade.objects.get(instrument=scenario["cpu"])
    y = by_day[YESTERDAY]
    # three H100 trades (24 units) and the CPU trade (4 units), all on one-week windows of 168 h
    assert (y.trades, y.units, y.unit_hours) == (4, 28, 28 * 168)
    assert y.notional == Decimal("49056.00") + cpu_trade.notional
    assert (y.scu, y.index) == (Decimal("3987648"), Decimal("0.012302"))  # CPU left out of the index
    t = by_day[T3.date()]
    assert (t.trades, t.units, t.notional, t.index) == (2, 16, Decimal("33868.80"), Decimal("0.012740"))
    assert all(d.trades == 0 and d.index is None for d in days if d.day not in (YESTERDAY, T3.date()))
    # per region, exactly what the one-day selector publishes
    yrd = {i.day: i for i in per_region["YRD"]}
    assert yrd[YESTERDAY] == market_data.scu_index(day=YESTERDAY, region="YRD")[0]
    assert yrd[T3.date()] == market_data.scu_index(day=T3.date(), region="YRD")[0]
    assert all(i.index is None for i in per_region["GBA"])

    page = op.get("/operator/").content.decode()
    assert f'<td>{YESTERDAY:%Y-%m-%d}</td><td class="num">4</td><td class="num">28</td>' in page
    assert "¥0.012302" in page and "¥33,868.80" in page
    assert page.count("<svg") >= 4  # utilisation, units, notional, SCU index


# --- who may look ---------------------------------------------------------------------------------

CONSOLE = ["/operator/", "/operator/pools/", "/operator/organisations/", "/operator/organisations/suanli/",
           "/operator/order-log/", "/operator/audit/"]  # fmt: skip


@pytest.mark.parametrize("url", CONSOLE)
def test_console_pages_are_for_operators_only(url, client, make_org, operator):
    user, _ = make_org(provider=True)
    assert client.get(url).status_code == 302  # anonymous: to the sign-in page
    client.force_login(user)
    assert client.get(url).status_code == 403
    client.force_login(operator)  # an operator who skipped the second factor signs in again
    r = client.get(url)
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    op = Client()
    sign_in(op, operator)
    assert op.get(url).status_code == 200


# --- supervision ------------------------------------------------------------------------------------


def test_organisations_list_figures_search_and_bounded_queries(scenario, op):  # noqa: F811 (the fixture imported above)
    r = op.get("/operator/organisations/")
    rows = {o.slug: (act, money) for o, act, money in r.context["rows"]}
    acme_act, acme_money = rows["acme"]
    # acme: trades 1, 4 and 5 of the H100 instrument and the CPU trade; 2 bids resting (11.90) … see scenario
    assert acme_act.trades == 4
    assert acme_act.open_orders == 1  # the bid at 11.90 (the IOC's rest was cancelled)
    assert acme_money["buyer_cash"] == account_for(purpose="buyer_cash", organisation=scenario["orgs"]["acme"]).balance
    assert rows["gridco"][0].trades == 3 + 1  # two H100 fills of 12.00, one of 12.70, and the CPU sale
    assert rows["suanli"][0].trades == 0
    page = r.content.decode()
    assert 'data-org="acme"' in page
    searched = op.get("/operator/organisations/?q=bol").context["rows"]
    assert [o.slug for o, _, _ in searched] == ["bolt"]
    providers = op.get("/operator/organisations/?role=provider").context["rows"]
    assert {o.slug for o, _, _ in providers} == {"gridco", "westdc"}

    with CaptureQueriesContext(connection) as few:
        op.get("/operator/organisations/")
    for i in range(30):
        Organisation.objects.create(name=f"Extra {i:02}", slug=f"extra-{i:02}")
    with CaptureQueriesContext(connection) as many:
        assert len(op.get("/operator/organisations/").context["rows"]) == 35
    assert len(many) == len(few)  # no query per row


def test_organisations_are_paginated(op, operator):
    for i in range(60):
        Organisation.objects.create(name=f"Org {i:02}", slug=f"org-{i:02}")
    first = op.get("/operator/organisations/")
    assert len(first.context["rows"]) == 50 and first.context["page"].paginator.num_pages == 2
    assert len(op.get("/operator/organisations/?page=2").context["rows"]) == 11


def test_organisation_detail_shows_orders_trades_contracts_money_and_pools(scenario, op):  # noqa: F811 (the fixture imported above)
    r = op.get("/operator/organisations/acme/")
    assert r.status_code == 200
    assert len(r.context["trades"]) == 4 and len(r.context["contracts"]) == 4
    assert {o.status for o in r.context["orders"]} >= {"filled", "open"}
    page = r.content.decode()
    assert "/operator/organisations/acme/ledger/" in page
    gridco = op.get("/operator/organisations/gridco/")
    assert {p.code for p in gridco.context["pools"]} == {"gridco-1", "gridco-cpu"}
    assert op.get("/operator/organisations/nobody/").status_code == 404


def test_credit_limit_is_set_with_a_reason_audited_and_bad_input_changes_nothing(scenario, op, operator):  # noqa: F811 (the fixture imported above)
    acme = scenario["orgs"]["acme"]
    bad = op.post("/operator/organisations/acme/", {"credit_limit": "-5", "reason": "x"})
    assert bad.status_code == 400 and "credit_limit" in bad.context["form"].errors
    assert 'value="-5"' in bad.content.decode()  # what was typed is kept
    no_reason = op.post("/operator/organisations/acme/", {"credit_limit": "5000", "reason": " "})
    assert no_reason.status_code == 400 and "reason" in no_reason.context["form"].errors
    acme.refresh_from_db()
    assert acme.credit_limit == Decimal("0.00") and not AuditEvent.objects.filter(action="organisation.credit_limit")
    ok = op.post("/operator/organisations/acme/", {"credit_limit": "5000.00", "reason": "Signed credit agreement"})
    assert ok.status_code == 302
    acme.refresh_from_db()
    assert acme.credit_limit == Decimal("5000.00")
    event = AuditEvent.objects.get(action="organisation.credit_limit")
    assert (event.organisation, event.reason, event.detail) == (
        acme, "Signed credit agreement", {"from": "0.00", "to": "5000.00"})  # fmt: skip
    assert "¥5,000.00" in op.get("/operator/organisations/acme/").content.decode()


def test_scheduling_priority_is_set_with_a_reason_audited_and_bad_input_changes_nothing(scenario, op, operator):  # noqa: F811
    acme = scenario["orgs"]["acme"]
    page = op.get("/operator/organisations/acme/").content.decode()
    assert 'id="priority-form"' in page and "Class 0:" in page
    bad = op.post("/operator/organisations/acme/", {"form": "priority", "scheduling_priority": "12", "reason": "x"})
    assert bad.status_code == 400 and "scheduling_priority" in bad.context["priority_form"].errors
    assert 'value="12"' in bad.content.decode()  # what was typed is kept
    no_reason = op.post("/operator/organisations/acme/", {"form": "priority", "scheduling_priority": "2", "reason": ""})
    assert no_reason.status_code == 400 and "reason" in no_reason.context["priority_form"].errors
    acme.refresh_from_db()
    assert acme.scheduling_priority == 0 and acme.credit_limit == Decimal("0.00")
    assert not AuditEvent.objects.filter(action="organisation.scheduling_priority")
    ok = op.post("/operator/organisations/acme/",
                 {"form": "priority", "scheduling_priority": "2", "reason": "City hospital imaging"})  # fmt: skip
    assert ok.status_code == 302
    acme.refresh_from_db()
    assert acme.scheduling_priority == 2 and acme.credit_limit == Decimal("0.00")  # the credit form untouched
    event = AuditEvent.objects.get(action="organisation.scheduling_priority")
    assert (event.organisation, event.reason, event.detail) == (acme, "City hospital imaging", {"from": 0, "to": 2})
    assert "Class 2:" in op.get("/operator/organisations/acme/").content.decode()


def test_only_operators_set_scheduling_priorities(scenario, operator):  # noqa: F811 (the fixture imported above)
    from accounts.services import scheduling_priority_set
    from config.errors import NotAllowed

    acme = scenario["orgs"]["acme"]
    buyer = acme.memberships.first().user
    with pytest.raises(NotAllowed):
        scheduling_priority_set(actor=buyer, organisation_id=acme.pk, priority=5, reason="me first")
    Membership.objects.filter(user=operator).update(role=Membership.Role.VIEWER)
    with pytest.raises(NotAllowed):
        scheduling_priority_set(actor=operator, organisation_id=acme.pk, priority=5, reason="why")
    acme.refresh_from_db()
    assert acme.scheduling_priority == 0


def test_viewer_operators_cannot_set_credit_limits(scenario, operator):  # noqa: F811 (the fixture imported above)
    from accounts.services import credit_limit_set
    from config.errors import NotAllowed

    Membership.objects.filter(user=operator).update(role=Membership.Role.VIEWER)
    with pytest.raises(NotAllowed):
        credit_limit_set(actor=operator, organisation_id=scenario["orgs"]["acme"].pk, limit="10", reason="why")


def test_order_log_download_is_what_the_command_writes(scenario, op):  # noqa: F811 (the fixture imported above)
    code = scenario["instrument"].code
    r = op.get("/operator/order-log/", {"instrument": code})
    assert r.status_code == 200 and r["Content-Type"] == "application/x-ndjson"
    assert r["Content-Disposition"] == f'attachment; filename="{code}.order-log.jsonl"'
    body = b"".join(r.streaming_content).decode()
    out = io.StringIO()
    call_command("export_order_log", code, stdout=out)
    assert body == out.getvalue()
    assert len(body.splitlines()) == 1 + 12 + 1  # the listing, twelve orders, one cancel request
    missing = op.get("/operator/order-log/", {"instrument": "NOPE"})
    assert missing.status_code == 400 and "No instrument with this code." in missing.content.decode()
    assert code in op.get("/operator/order-log/").content.decode()  # recent instruments listed


# --- the audit log ----------------------------------------------------------------------------------


def _pool(make_org, operator, status=PoolStatus.APPLIED, code="p-1"):
    user, org = make_org(provider=True, slug=f"prov-{code}")
    if status == PoolStatus.SUSPENDED:  # connected first (its first heartbeat), then suspended
        pool = connected_pool(user=user, organisation=org, operator=operator, code=code)
    else:
        pool = pool_apply(actor=user, organisation=org, descriptor=descriptor(code=code))
    if status == PoolStatus.VERIFIED:
        pool_verify(actor=operator, pool_id=pool.pk)
    if status == PoolStatus.SUSPENDED:
        pool_suspend(actor=operator, pool_id=pool.pk, reason="test")
    return pool


def _pool_action(action, status):
    def act(op, make_org, operator):
        pool = _pool(make_org, operator, status)
        r = op.post(f"/operator/pools/{pool.pk}/{action}/", {"reason": "checked on site"})
        assert r.status_code == 302
        return f"pool.{action}"

    return act


def _ledger_check(op, make_org, operator):
    op.post("/operator/money/ledger-check/")
    return "ledger.check"


def _credit_limit(op, make_org, operator):
    make_org(slug="buyer-1")
    assert op.post("/operator/organisations/buyer-1/", {"credit_limit": "100", "reason": "agreed"}).status_code == 302
    return "organisation.credit_limit"


def _bank(op, make_org, operator):
    _, org = make_org(slug="buyer-1")
    op.post("/operator/money/", {"form": "bank", "idempotency_key": "k1", "bank-amount": "10.00",
                                 "bank-reference": bank_reference_for(organisation=org).code,
                                 "bank-bank_transaction_id": "IN-1"})  # fmt: skip
    return "funds.bank_transfer"


def _adjust(op, make_org, operator):
    make_org(slug="buyer-1")
    op.post("/operator/money/", {"form": "adjust", "idempotency_key": "k2", "adjust-organisation": "buyer-1",
                                 "adjust-purpose": "buyer_cash", "adjust-amount": "5.00",
                                 "adjust-reason": "goodwill"})  # fmt: skip
    return "funds.adjustment"


def _payout(op, make_org, operator):
    make_org(provider=True, slug="prov-1")
    op.post("/operator/money/", {"form": "adjust", "idempotency_key": "k3", "adjust-organisation": "prov-1",
                                 "adjust-purpose": "provider_payable", "adjust-amount": "50.00",
                                 "adjust-reason": "owed"})  # fmt: skip
    op.post("/operator/money/", {"form": "payout", "idempotency_key": "k4", "payout-organisation": "prov-1",
                                 "payout-amount": "20.00", "payout-bank_transaction_id": "OUT-1"})  # fmt: skip
    return "funds.payout"


def _reversal(op, make_org, operator):
    _, org = make_org(slug="buyer-1")
    txn = bank_transfer_record(actor=operator, reference=bank_reference_for(organisation=org).code,
                               amount=Decimal("10.00"), bank_transaction_id="IN-9")  # fmt: skip
    r = op.post(f"/api/v1/operator/transactions/{txn.pk}/reverse/", {"reason": "sent to the wrong reference"},
                content_type="application/json", HTTP_IDEMPOTENCY_KEY="rev-1")  # fmt: skip
    assert r.status_code == 201, r.content
    return "funds.reversal"


def _ledger_check_api(op, make_org, operator):
    assert op.post("/api/v1/operator/ledger-check/", content_type="application/json").status_code == 200
    return "ledger.check"


def _reconciliation_close(op, make_org, operator):
    r = op.post("/operator/reconciliation/?period=2026-01", {"action": "close", "period": "2026-01"})
    assert r.status_code == 302
    return "reconciliation.close"


OPERATOR_ACTIONS = {
    "pool.verify": _pool_action("verify", PoolStatus.APPLIED),
    "pool.reject": _pool_action("reject", PoolStatus.APPLIED),
    "pool.suspend": _pool_action("suspend", PoolStatus.VERIFIED),
    "pool.resume": _pool_action("resume", PoolStatus.SUSPENDED),
    "ledger.check": _ledger_check,
    "ledger.check (API)": _ledger_check_api,
    "funds.reversal": _reversal,
    "organisation.credit_limit": _credit_limit,
    "funds.bank_transfer": _bank,
    "funds.adjustment": _adjust,
    "funds.payout": _payout,
    "reconciliation.close": _reconciliation_close,
}


@pytest.mark.parametrize("name", OPERATOR_ACTIONS)
def test_every_operator_action_writes_an_audit_event(name, op, make_org, operator, reference_data):
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    action = OPERATOR_ACTIONS[name](op, make_org, operator)
    mine = AuditEvent.objects.exclude(pk__in=before).filter(action=action)
    assert mine.count() == 1, list(AuditEvent.objects.exclude(pk__in=before).values_list("action", flat=True))
    event = mine.get()
    assert (event.actor, event.actor_label) == (operator, str(operator))
    page = op.get("/operator/audit/", {"action": action}).content.decode()
    assert f"<code>{action}</code>" in page


def test_the_ledger_check_command_is_audited_as_the_system(db):
    call_command("ledger_check", stdout=io.StringIO())
    event = AuditEvent.objects.get(action="ledger.check")
    assert (event.actor, event.actor_label, event.detail["ok"]) == (None, "system", True)


def test_audit_log_filters_by_actor_action_organisation_and_local_date(op, make_org, operator, reference_data):
    a = _pool(make_org, operator, PoolStatus.VERIFIED, code="a-1")  # pool.apply by its provider, pool.verify
    b = _pool(make_org, operator, PoolStatus.SUSPENDED, code="b-1")
    old = AuditEvent.objects.filter(action="pool.suspend").get()
    AuditEvent.objects.filter(pk=old.pk).update(at=datetime(2026, 1, 1, 23, 30, tzinfo=LOCAL))  # 15:30 UTC

    def listed(**params):
        r = op.get("/operator/audit/", params)
        assert r.status_code == 200, r.context["form"].errors
        return [(e.action, e.organisation.slug if e.organisation else None) for e in r.context["page"]]

    assert listed(action="pool.verify") == [("pool.verify", b.provider.slug), ("pool.verify", a.provider.slug)]
    assert set(listed(action="pool.")) == {("pool.apply", "prov-a-1"), ("pool.apply", "prov-b-1"),
                                           ("pool.verify", "prov-a-1"), ("pool.verify", "prov-b-1"),
                                           ("pool.suspend", "prov-b-1")}  # fmt: skip
    assert {x for x, _ in listed(actor="op@suanli")} == {"pool.verify", "pool.suspend"}
    assert {x for x, _ in listed(organisation="prov-a-1")} == {"pool.apply", "pool.verify"}
    # the local date: 23:30 in Shanghai on 1 January, though 15:30 UTC
    assert listed(date_from="2026-01-01", date_to="2026-01-01") == [("pool.suspend", "prov-b-1")]
    assert listed(date_to="2025-12-31") == []
    bad = op.get("/operator/audit/", {"date_from": "yesterday"})
    assert bad.status_code == 400 and "date_from" in bad.context["form"].errors
    assert list(bad.context["page"]) == []
    reversed_ = op.get("/operator/audit/", {"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert reversed_.status_code == 400 and "date_to" in reversed_.context["form"].errors


def test_audit_log_is_paginated(op, operator):
    for i in range(120):
        AuditEvent.objects.create(actor_label="system", action="test.event", target=str(i))
    first = op.get("/operator/audit/")
    assert len(first.context["page"]) == 50 and first.context["page"].paginator.count == 120
    assert first.context["page"][0].target == "119"  # newest first
    assert [e.target for e in op.get("/operator/audit/?page=3").context["page"]][-1] == "0"


def test_overview_queries_do_not_grow_with_organisations_pools_or_trades(scenario, op, operator):  # noqa: F811 (the fixture imported above)
    with CaptureQueriesContext(connection) as before:
        assert op.get("/operator/").status_code == 200
    user, org = scenario["users"]["westdc"], scenario["orgs"]["westdc"]
    for i in range(3):
        connected_pool(user=user, organisation=org, operator=operator, code=f"more-{i}", region="GBA", tier="EDGE")
    for i in range(20):
        Organisation.objects.create(name=f"Extra {i:02}", slug=f"extra-{i:02}")
    with CaptureQueriesContext(connection) as after:
        r = op.get("/operator/")
    assert len(after) == len(before)
    gpu = next(t for t in r.context["fleet"] if t["kind"] == "gpu")
    assert gpu["installed"] == 64 * 5
