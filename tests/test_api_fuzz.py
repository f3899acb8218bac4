"""Every API operation answers input generated from its own OpenAPI schema — valid, invalid,
edge values, odd bytes and offsets — without a server error: bad input is refused with a clear
error, never answered with a 500 (schemathesis, in process through the WSGI application).

Each operation is called with the key of an organisation that may use it: the operator's for the
operator's endpoints, a provider's for pools, listings and usage, a buyer's otherwise, on a small
market, and where an operation names a record, on one of that organisation's own records."""

import re
from datetime import timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from accounts.models import ApiKeyScope
from accounts.services import api_key_create, invitation_create
from catalog.models import Pool
from catalog.services import pool_key_create
from marketplace.models import Contract, Order, Reservation
from marketplace.services.scheduling import DemandTerms, demand_submit
from settlement.models import Hold, JournalTransaction
from settlement.services.invoices import invoice_draft
from settlement.services.statements import statement_issue
from tests.marketplace.conftest import build_shop

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

EXAMPLES = 12  # per operation and mode: about a minute for the whole API here
PROVIDER_PATHS = ("/api/v1/pools", "/api/v1/listings", "/api/v1/capacity", "/api/v1/usage", "/api/v1/statements")


@pytest.fixture
def api_schema(db):
    # the WSGI handler closes the connection after each request (CONN_MAX_AGE 0): not inside the
    # test's transaction, as Django's own test client keeps it
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(make_org, reference_data, operator, fund):
    """The shop's market (tests/marketplace/conftest.py: two providers' pools, a traded week
    instrument, retail listings and a reservation), a key for the operator, GridCo (a provider)
    and Acme (a buyer), and the ids of their own records, so that operations on one are fuzzed
    on a real one, not only answered 404."""
    shop = build_shop(make_org=make_org, operator=operator, fund=fund)
    users, orgs = shop["users"], shop["orgs"]
    everything = [s for s in ApiKeyScope.values if s != ApiKeyScope.OPERATOR]
    platform = operator.memberships.get().organisation
    keys = {
        name: api_key_create(actor=user, organisation=org, name="fuzz", scopes=scopes)[1]
        for name, user, org, scopes in (
            ("operator", operator, platform, ApiKeyScope.values),
            ("provider", users["gridco"], orgs["gridco"], everything),
            ("buyer", users["acme"], orgs["acme"], everything),
        )
    }
    acme, pool = orgs["acme"], Pool.objects.get(code="gridco-1")
    pool_key, _ = pool_key_create(actor=users["gridco"], organisation=orgs["gridco"], pool_id=pool.pk, name="rack")
    spare_key, _ = api_key_create(actor=users["acme"], organisation=acme, name="spare", scopes=["orders:read"])
    start = (timezone.now() + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    demand = demand_submit(actor=users["acme"], organisation=acme, idempotency_key="fuzz-demand",
                           terms=DemandTerms(resource_class="H100-80G", units=1, hours=2, earliest_start=start,
                                             latest_finish=start + timedelta(hours=24)))  # fmt: skip
    month = timezone.localdate().replace(day=1)
    invoice = invoice_draft(organisation=acme, period=month)
    statement = statement_issue(provider=orgs["gridco"], period=(month - timedelta(days=1)).replace(day=1))
    invitation = invitation_create(actor=users["gridco"], organisation=orgs["gridco"], email=users["acme"].email,
                                   role="viewer")  # fmt: skip
    ids = {  # path prefix: its parameters
        "/api/v1/orders/": {"id": Order.objects.filter(organisation=acme).first().pk},
        "/api/v1/contracts/": {"id": Contract.objects.get(holder=acme).pk},
        "/api/v1/holds/": {"id": Hold.objects.filter(organisation=acme).first().pk},
        "/api/v1/reservations/": {"id": Reservation.objects.get(buyer=acme).pk},
        "/api/v1/listings/": {"id": shop["listings"]["per_time"].pk},
        "/api/v1/api-keys/": {"id": spare_key.pk},
        "/api/v1/pools/": {"id": pool.pk, "pool_id": pool.pk, "pool_pk": pool.pk},
        "/api/v1/pools/{pool_pk}/keys/": {"pool_pk": pool.pk, "id": pool_key.pk},
        "/api/v1/instruments/": {"code": shop["week"].code},
        "/api/v1/regions/": {"code": "YRD"},
        "/api/v1/resource-classes/": {"code": "H100-80G"},
        "/api/v1/tou-periods/": {"kind": "peak"},
        "/api/v1/demands/": {"id": demand.pk},
        "/api/v1/invoices/": {"id": invoice.pk},
        "/api/v1/statements/": {"id": statement.pk},
        "/api/v1/invitations/": {"id": invitation.pk},
        "/api/v1/operator/invoices/": {"invoice_id": invoice.pk},
        "/api/v1/operator/transactions/": {"transaction_id": JournalTransaction.objects.order_by("pk").first().pk},
    }
    return keys, ids


def known_ids(ids: dict, path: str) -> dict:
    """The real ids for ``path``'s parameters (the longest matching prefix's), if any."""
    names = set(re.findall(r"{(\w+)}", path))
    prefixes = [p for p in ids if path.startswith(p)]
    if not names or not prefixes:
        return {}
    given_ = ids[max(prefixes, key=len)]
    return {name: value for name, value in given_.items() if name in names} if names <= given_.keys() else {}


def identity(path: str) -> str:
    if "/operator/" in path or path.endswith(("/verify/", "/suspend/", "/resume/", "/reject/")):
        return "operator"
    return "provider" if path.startswith(PROVIDER_PATHS) else "buyer"


def answers_without_server_error(operation, key: str, path_parameters: dict) -> None:
    """Call the operation with cases generated from its schema, valid and not (on the records
    ``path_parameters`` name, if given); raise on a 5xx."""
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "fuzz-key"}
    fixed = {"path_parameters": path_parameters} if path_parameters else {}

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE, **fixed)
           | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, **fixed))  # fmt: skip
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)  # fmt: skip
    def answers(case):
        case.validate_response(case.call(headers=headers), checks=[not_a_server_error])

    answers()


def test_no_input_makes_a_server_error(api_schema, world):
    """Each operation in turn; every operation's failure reported together."""
    keys, ids = world
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        try:
            answers_without_server_error(operation, keys[identity(operation.path)], known_ids(ids, operation.path))
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
