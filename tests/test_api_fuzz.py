"""Every API operation answers input generated from its own OpenAPI schema — valid, invalid,
edge values, odd bytes and offsets — without a server error: bad input is refused with a clear
error, never answered with a 500 (schemathesis, in process through the WSGI application).

Each operation is called with the key of an organisation that may use it: the operator's for the
operator's endpoints, a provider's for pools, listings and usage, a buyer's otherwise, on a small
market (a connected pool, a listed instrument, funded buyer)."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from accounts.models import ApiKeyScope
from accounts.services import api_key_create
from marketplace.services import instrument_ensure
from tests.marketplace.conftest import connected_pool, next_week_code

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
def keys(make_org, reference_data, operator, fund):
    provider_user, provider = make_org(provider=True, buyer=False, slug="fuzz-provider")
    buyer_user, buyer = make_org(slug="fuzz-buyer")
    fund(buyer, "1000000.00")
    connected_pool(user=provider_user, organisation=provider, operator=operator, code="fuzz-1")
    instrument_ensure(code=next_week_code())
    everything = [s for s in ApiKeyScope.values if s != ApiKeyScope.OPERATOR]
    platform = operator.memberships.get().organisation
    return {
        "operator": api_key_create(actor=operator, organisation=platform, name="fuzz", scopes=ApiKeyScope.values)[1],
        "provider": api_key_create(actor=provider_user, organisation=provider, name="fuzz", scopes=everything)[1],
        "buyer": api_key_create(actor=buyer_user, organisation=buyer, name="fuzz", scopes=everything)[1],
    }


def identity(path: str) -> str:
    if "/operator/" in path or path.endswith(("/verify/", "/suspend/", "/resume/", "/reject/")):
        return "operator"
    return "provider" if path.startswith(PROVIDER_PATHS) else "buyer"


def answers_without_server_error(operation, key: str) -> None:
    """Call the operation with cases generated from its schema, valid and not; raise on a 5xx."""
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "fuzz-key"}

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
           | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))  # fmt: skip
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)  # fmt: skip
    def answers(case):
        case.validate_response(case.call(headers=headers), checks=[not_a_server_error])

    answers()


def test_no_input_makes_a_server_error(api_schema, keys):
    """Each operation in turn; every operation's failure reported together."""
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        try:
            answers_without_server_error(operation, keys[identity(operation.path)])
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
