from decimal import Decimal

import pytest

from settlement.services import bank_reference_for, bank_transfer_record


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
