"""Tenant isolation, for every view that exists: a member of one organisation can read or
change nothing of another's, on pages and through the API alike.

The test walks the URL resolver, so a new view without a case here fails
``test_every_view_has_a_case``."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import get_resolver
from django.utils import timezone

from accounts.models import ApiKey, AuditEvent, Invitation, Membership
from accounts.services import api_key_create, invitation_create
from catalog.models import Heartbeat, Pool, PoolKey, PoolTransition
from catalog.services import heartbeat_record, pool_apply, pool_key_create, pool_verify
from marketplace.models import Contract, Demand, Listing, Order, OrderCancel, Proposal, Reservation
from marketplace.services import (
    ListingTerms,
    OrderTerms,
    ReservationTerms,
    books_forget,
    instrument_ensure,
    instrument_match,
    listing_create,
    order_place,
    reservation_place,
)
from marketplace.services.scheduling import DemandTerms, demand_submit, scheduling_round
from settlement.models import Account, Hold, Invoice, Posting, Statement, UsageRecord
from settlement.services import bank_reference_for, bank_transfer_record, hold_place
from settlement.services.invoices import invoice_draft, period_of
from tests.conftest import descriptor
from tests.factories import UserFactory
from tests.marketplace.conftest import connected_pool, next_week_code

pytestmark = pytest.mark.django_db

NAMESPACES = ("accounts", "catalog", "settlement", "api", "marketplace")


def all_views():
    def walk(patterns, ns=None):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                yield from walk(p.url_patterns, p.namespace or ns)
            elif ns in NAMESPACES:
                yield f"{ns}:{p.name}", sorted(p.pattern.regex.groupindex)

    return dict(walk(get_resolver().url_patterns))


# How to address the victim's objects in each view (None: the view takes no id).
CASES = {
    "accounts:home": None,
    "accounts:dashboard": None,
    "accounts:organisation_create": None,
    "accounts:organisation_switch": "switch",
    "accounts:members": None,
    "accounts:api_keys": None,
    "accounts:api_key_revoke": {"key_id": "api_key"},
    "accounts:invitation_accept": {"invitation_id": "invitation"},
    "catalog:index": None,
    "catalog:pool_list": None,
    "catalog:pool_create": None,
    "catalog:pool_detail": {"pool_id": "pool"},
    "catalog:pool_withdraw": {"pool_id": "pool"},
    "catalog:pool_key_create": {"pool_id": "pool"},
    "catalog:pool_key_rotate": {"pool_id": "pool", "key_id": "pool_key"},
    "catalog:pool_key_revoke": {"pool_id": "pool", "key_id": "pool_key"},
    "catalog:operator_overview": None,
    "catalog:operator_pool": {"pool_id": "pool"},
    "catalog:operator_pool_action": {"pool_id": "pool", "action": "suspend"},
    "catalog:operator_reference_prices": None,
    "catalog:operator_audit": None,
    "catalog:operator_pools": None,
    "catalog:operator_organisations": None,
    "catalog:operator_organisation": {"slug": "victim"},
    "catalog:operator_order_log": None,
    "api:me": None,
    "api:reference-prices": None,
    "api:capacity": None,
    "api:pool-heartbeats": {"pool_id": "pool"},
    "api:grid-connection-schema": None,
    "api:organisation-list": None,
    "api:member-list": None,
    "api:invitation-list": None,
    "api:invitation-mine": None,
    "api:invitation-accept": {"pk": "invitation"},
    "api:api-key-list": None,
    "api:api-key-detail": {"pk": "api_key"},
    "api:api-key-revoke": {"pk": "api_key"},
    "api:audit-event-list": None,
    "api:resource-class-list": None,
    "api:resource-class-detail": {"pk": "H100-80G"},
    "api:region-list": None,
    "api:region-detail": {"pk": "YRD"},
    "api:tou-period-list": None,
    "api:tou-period-detail": {"pk": "peak"},
    "api:pool-list": None,
    "api:pool-detail": {"pk": "pool"},
    "api:pool-capacity": {"pk": "pool"},
    "api:pool-reject": {"pk": "pool"},
    "api:pool-resume": {"pk": "pool"},
    "api:pool-suspend": {"pk": "pool"},
    "api:pool-verify": {"pk": "pool"},
    "api:pool-transitions": {"pk": "pool"},
    "api:pool-withdraw": {"pk": "pool"},
    "api:pool-key-list": {"pool_pk": "pool"},
    "api:pool-key-revoke": {"pool_pk": "pool", "pk": "pool_key"},
    "api:pool-key-rotate": {"pool_pk": "pool", "pk": "pool_key"},
    "api:api-root": None,
    "settlement:funds": None,
    "settlement:operator_money": None,
    "settlement:operator_ledger_check": None,
    "settlement:operator_ledger": {"slug": "victim"},
    "api:funds": None,
    "api:topup-bank": None,
    "api:posting-list": None,
    "api:hold-list": None,
    "api:hold-detail": {"pk": "hold"},
    "api:operator-bank-transfers": None,
    "api:operator-adjustments": None,
    "api:operator-payouts": None,
    "api:operator-transaction-reverse": {"transaction_id": "transaction"},
    "api:operator-ledger-check": None,
    "api:topup-card-list": None,
    "settlement:stripe_webhook": None,
    "api:operator-stripe-transfer-list": None,
    "api:operator-stripe-transfer-settle": {"pk": "transaction"},
    "api:order-list": None,
    "api:order-detail": {"pk": "order"},
    "api:order-batch": None,
    "api:order-cancel": {"pk": "order"},
    "api:trade-list": None,
    "api:contract-list": None,
    "api:contract-detail": {"pk": "contract"},
    # market data is public: the instrument is everyone's, only the victim's orders are secret
    "api:instrument-list": None,
    "api:instrument-detail": {"code": "instrument"},
    "api:instrument-depth": {"code": "instrument"},
    "api:instrument-trades": {"code": "instrument"},
    "api:instrument-ohlcv": {"code": "instrument"},
    "api:market-scu-index": None,
    # retail: open listings are everyone's to browse; own listings and reservations are secret
    "api:listing-list": None,
    "api:listing-detail": {"pk": "listing"},
    "api:listing-withdraw": {"pk": "listing"},
    "api:listing-browse": None,
    "api:reservation-list": None,
    "api:reservation-detail": {"pk": "reservation"},
    "api:reservation-cancel": {"pk": "reservation"},
    "marketplace:index": None,
    "marketplace:instrument_detail": {"code": "instrument"},
    "marketplace:instrument_live": {"code": "instrument"},
    "marketplace:orders": None,
    "marketplace:orders_live": None,
    # the event stream carries only the caller's own organisation's changes and public market ones
    "marketplace:live_events": None,
    "marketplace:order_cancel": {"order_id": "order"},
    "marketplace:fills": None,
    "marketplace:contracts": None,
    "api:usage": None,
    "settlement:invoices": None,
    "settlement:usage": None,
    "settlement:invoice_detail": {"invoice_id": "invoice"},
    "settlement:invoice_pdf": {"invoice_id": "invoice"},
    "settlement:invoice_pay": {"invoice_id": "invoice"},
    "api:invoice-list": None,
    "api:invoice-detail": {"pk": "invoice"},
    "api:invoice-pdf": {"pk": "invoice"},
    "api:operator-credit-notes": {"invoice_id": "invoice"},
    "settlement:statements": None,
    "settlement:statement_detail": {"statement_id": "statement"},
    "settlement:operator_reconciliation": None,
    "settlement:operator_reconciliation_csv": None,
    "settlement:operator_invoice_cases": {"invoice_id": "invoice"},
    "api:statement-list": None,
    "api:statement-detail": {"pk": "statement"},
    "marketplace:retail_index": None,
    # the shelf and its product pages are public: only the visitor's own orders show there
    "marketplace:shelf": None,
    "marketplace:product": {"product": "product"},
    "marketplace:listing_detail": {"listing_id": "open_listing"},
    "marketplace:reservations": None,
    "marketplace:reservation_cancel": {"reservation_id": "reservation"},
    "marketplace:my_listings": None,
    "marketplace:listing_withdraw": {"listing_id": "listing"},
    # scheduling: a buyer's demands and their proposals are its own
    "api:demand-list": None,
    "api:demand-detail": {"pk": "demand"},
    "api:demand-confirm": {"pk": "demand"},
    "api:demand-cancel": {"pk": "demand"},
    "marketplace:schedule": None,
    "marketplace:demand_detail": {"demand_id": "demand"},
    "marketplace:demand_live": {"demand_id": "demand"},
    "marketplace:demand_confirm": {"demand_id": "demand"},
    "marketplace:demand_cancel": {"demand_id": "demand"},
}


def test_every_view_has_a_case():
    assert set(all_views()) == set(CASES)


@pytest.fixture
def world(make_org, reference_data, operator):
    victim_user = UserFactory(email="victim-owner@b.test")
    victim_user, victim = make_org(provider=True, user=victim_user, name="Victim Compute", slug="victim")
    pool = pool_apply(
        actor=victim_user, organisation=victim, descriptor=descriptor(code="victim-secret-pool", name="Hidden Site")
    )
    pool_verify(actor=operator, pool_id=pool.pk)
    key, _ = pool_key_create(actor=victim_user, organisation=victim, pool_id=pool.pk, name="victim-rack")
    heartbeat_record(pool_key=key, pool_id=pool.pk, ts=timezone.now(), available={"H100-80G": 7}, health="ok")
    api_key, _ = api_key_create(actor=victim_user, organisation=victim, name="victim-erp", scopes=["pools:read"])
    invitation = invitation_create(actor=victim_user, organisation=victim, email="victim-hire@b.test", role="trader")
    topup = bank_transfer_record(
        actor=operator,
        reference=bank_reference_for(organisation=victim).code,
        amount=Decimal("500.00"),
        bank_transaction_id="victim-bank-1",
    )
    hold = hold_place(idempotency_key="victim-h", organisation=victim, amount=Decimal("123.45"),
                      reference="victim-secret-order")  # fmt: skip
    # the victim bought 8 units from a third party (a contract) and offers 8 of its own (resting)
    bank_transfer_record(actor=operator, reference=bank_reference_for(organisation=victim).code,
                         amount=Decimal("100000.00"), bank_transaction_id="victim-bank-2")  # fmt: skip
    seller_user, seller = make_org(provider=True, name="Third Party Compute", slug="third")
    seller_pool = connected_pool(user=seller_user, organisation=seller, operator=operator, code="third-secret-pool")
    instrument = instrument_ensure(code=next_week_code())
    ref = instrument.reference_price
    order_place(
        actor=seller_user,
        organisation=seller,
        idempotency_key="t1",
        terms=OrderTerms(instrument=instrument.code, side="sell", type="limit", qty=16, tif="GTC", price=ref),
    )
    order_place(
        actor=victim_user,
        organisation=victim,
        idempotency_key="v1",
        terms=OrderTerms(
            instrument=instrument.code,
            side="buy",
            type="limit",
            qty=8,
            tif="GTC",
            price=ref,
            client_order_id="victim-secret-buy",
        ),
    )
    resting = order_place(
        actor=victim_user,
        organisation=victim,
        idempotency_key="v2",
        terms=OrderTerms(
            instrument=instrument.code,
            side="sell",
            type="limit",
            qty=8,
            tif="GTC",
            price=ref + 1,
            client_order_id="victim-secret-sell",
        ),
    )
    books_forget()
    instrument_match(instrument_id=instrument.pk)
    books_forget()
    contract = Contract.objects.get(holder=victim)
    start = contract.instrument.window_start
    UsageRecord.objects.create(provider=seller, pool=seller_pool, contract=contract, buyer=victim, meter="gpu_seconds",
                               record_id="victim-secret-usage", quantity=Decimal("3600"), start=start,
                               end=start + timedelta(hours=1), received_at=timezone.now())  # fmt: skip
    invoice = invoice_draft(organisation=victim, period=period_of(start))
    zero = Decimal("0.00")
    statement = Statement.objects.create(
        provider=victim, period=period_of(start), number="ST-VICTIM-SECRET", issued_at=timezone.now(),
        gross_retail=Decimal("777.77"), gross_wholesale=zero, commission_retail=zero, commission_wholesale=zero,
        trade_fees=zero, chargebacks=zero, net=Decimal("777.77"),
    )  # fmt: skip
    # retail: the victim lists units of its own pool, and reserves units of a shelf provider's
    start = (timezone.now() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    listing = listing_create(actor=victim_user, organisation=victim, terms=ListingTerms(
        pool_id=pool.pk, resource_class="H100-80G", units=8, price=Decimal("20.0000"), billing="per_time",
        minimum_minutes=60, available_from=start, available_until=start + timedelta(days=2)))  # fmt: skip
    shelf_user, shelf = make_org(provider=True, name="Shelf Compute", slug="shelf")
    shelf_pool = connected_pool(user=shelf_user, organisation=shelf, operator=operator, code="shelf-secret-pool")
    shelf_listing = listing_create(actor=shelf_user, organisation=shelf, terms=ListingTerms(
        pool_id=shelf_pool.pk, resource_class="H100-80G", units=8, price=Decimal("20.0000"), billing="per_time",
        minimum_minutes=60, available_from=start, available_until=start + timedelta(days=2)))  # fmt: skip
    reserved = ReservationTerms(shelf_listing.pk, 2, start, start + timedelta(hours=2))
    reservation = reservation_place(actor=victim_user, organisation=victim, idempotency_key="victim-r", terms=reserved)
    # scheduling: the victim states a demand (with a price ceiling nobody else should read) and a round proposes it
    demand = demand_submit(actor=victim_user, organisation=victim, idempotency_key="victim-d", terms=DemandTerms(
        resource_class="H100-80G", units=2, hours=2, earliest_start=start, latest_finish=start + timedelta(hours=4),
        max_price=Decimal("98.7654")))  # fmt: skip
    scheduling_round()
    attacker, attacker_org = make_org(provider=True, name="Attacker Inc", slug="attacker")
    pool_apply(actor=attacker, organisation=attacker_org, descriptor=descriptor(code="attacker-pool"))
    return {
        "attacker": attacker,
        "victim": victim,
        "ids": {"pool": pool.pk, "pool_key": key.pk, "api_key": api_key.pk, "switch": victim.pk,
                "invitation": invitation.pk, "hold": hold.hold.pk, "transaction": topup.pk,
                "order": resting.pk, "contract": contract.pk, "invoice": invoice.pk,
                "statement": statement.pk, "listing": listing.pk, "reservation": reservation.pk,
                "demand": demand.pk},
        "public": {"instrument": instrument.code, "open_listing": listing.pk,
                   "product": "H100-80G.YRD.MAIN.retail.per_time"},
        "secrets": ["victim-secret-pool", "Hidden Site", "victim-owner@b.test", "victim-rack", "victim-erp",
                    api_key.lookup, key.lookup, "victim-hire@b.test",
                    "victim-secret-order", "123.45", bank_reference_for(organisation=victim).code, "victim-bank-1",
                    "victim-secret-buy", "victim-secret-sell", seller_pool.code, "Third Party Compute",
                    "victim-secret-usage", "ST-VICTIM-SECRET", "777.77", shelf_pool.code, "98.7654"],
    }  # fmt: skip


def victim_state(world):
    victim = world["victim"]
    return (
        list(Pool.objects.filter(provider=victim).values_list("status", "updated_at", "name")),
        PoolTransition.objects.filter(pool__provider=victim).count(),
        list(PoolKey.objects.filter(pool__provider=victim).values_list("pk", "revoked_at")),
        Heartbeat.objects.filter(pool__provider=victim).count(),
        list(ApiKey.objects.filter(organisation=victim).values_list("pk", "revoked_at")),
        list(Membership.objects.filter(organisation=victim).values_list("user_id", "role")),
        AuditEvent.objects.filter(organisation=victim).count(),
        list(Invitation.objects.filter(organisation=victim).values_list("pk", "accepted_at")),
        list(Account.objects.filter(organisation=victim).values_list("pk", "balance")),
        list(Hold.objects.filter(organisation=victim).values_list("pk", "captured", "released", "status")),
        Posting.objects.filter(account__organisation=victim).count(),
        list(
            Order.objects.filter(organisation=victim).values_list("pk", "status", "filled_qty", "cancel_requested_at")
        ),
        OrderCancel.objects.filter(order__organisation=victim).count(),
        list(Contract.objects.filter(holder=victim).values_list("pk", "qty", "resold", "resale_reserved")),
        UsageRecord.objects.filter(buyer=victim).count(),
        list(Invoice.objects.filter(organisation=victim).values_list("pk", "status", "total", "paid")),
        list(Listing.objects.filter(provider=victim).values_list("pk", "status", "units")),
        list(Reservation.objects.filter(buyer=victim).values_list("pk", "status", "actual_end")),
        list(Demand.objects.filter(organisation=victim).values_list("pk", "status", "reason")),
        list(Proposal.objects.filter(demand__organisation=victim).values_list("pk", "status")),
    )


def url_for(pattern_name, kwargs, world):
    from django.urls import reverse

    if kwargs == "switch" or kwargs is None:
        return reverse(pattern_name)
    resolved = {k: world["ids"].get(v, world["public"].get(v, v)) for k, v in kwargs.items()}
    return reverse(pattern_name, kwargs=resolved)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("method", ["get", "post"])
def test_no_view_reveals_or_changes_another_organisations_data(world, client, name, method):
    client.force_login(world["attacker"])
    before = victim_state(world)
    url = url_for(name, CASES[name], world)
    data = {"organisation": world["ids"]["switch"], "reason": "x", "name": "evil", "email": "someone@else.test",
            "role": "owner", "scopes": ["pools:read"], "amount": "10.00", "purpose": "buyer_cash",
            "organisation_slug": "victim", "bank_transaction_id": "evil-1", "form": "adjust"}  # fmt: skip
    response = getattr(client, method)(url, data)
    assert response.status_code < 500, (url, response.status_code)
    body = response.content.decode()
    for secret in world["secrets"]:
        assert secret not in body, (url, method, secret)
    assert victim_state(world) == before, (url, method)
    addresses_victim = isinstance(CASES[name], dict) and any(v in world["ids"] for v in CASES[name].values())
    if addresses_victim:
        assert response.status_code in (302, 403, 404, 405), (url, method, response.status_code)
    # the session still acts for the attacker's own organisation
    assert client.get("/api/v1/me/").json()["organisation"]["slug"] == "attacker"


@pytest.mark.parametrize("name", sorted(n for n in CASES if n.startswith("api:")))
def test_api_keys_reach_only_their_own_organisation(world, api, name):
    attacker_org = Membership.objects.get(user=world["attacker"]).organisation
    _, token = api_key_create(actor=world["attacker"], organisation=attacker_org, name="k",
                              scopes=["pools:read", "pools:write", "catalog:read"])  # fmt: skip
    client = api(token=token)
    before = victim_state(world)
    url = url_for(name, CASES[name], world)
    for method in ("get", "post"):
        response = getattr(client, method)(url, {"reason": "x", "name": "evil"})
        assert response.status_code < 500
        body = response.content.decode()
        assert not any(secret in body for secret in world["secrets"]), (url, method)
    assert victim_state(world) == before
