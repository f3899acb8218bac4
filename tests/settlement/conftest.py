from decimal import Decimal

import pytest

from settlement.selectors import ledger_check_run
from settlement.services import bank_reference_for, bank_transfer_record


@pytest.fixture(autouse=True)
def _ledger_checked_after_every_test(request, _django_db_helper):
    """The invariant checker runs after every settlement scenario, before the database is rolled
    back (it depends on pytest-django's database fixture, so it is torn down first)."""
    yield
    if request.node.get_closest_marker("django_db") and not request.node.get_closest_marker("ledger_tampered"):
        report = ledger_check_run(store=False)
        assert report["ok"], report


@pytest.fixture
def buyer(make_org):
    return make_org(buyer=True)


@pytest.fixture
def seller(make_org):
    return make_org(provider=True)


@pytest.fixture
def fund(operator):
    """Top an organisation up by bank transfer, as the operator records it."""
    counter = iter(range(1, 10**6))

    def fund(organisation, amount):
        ref = bank_reference_for(organisation=organisation)
        return bank_transfer_record(
            actor=operator, reference=ref.code, amount=Decimal(amount), bank_transaction_id=f"B{next(counter)}"
        )

    return fund
