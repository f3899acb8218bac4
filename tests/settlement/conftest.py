import pytest

from tests.ledger import _ledger_checked_after_every_test  # noqa: F401 (autouse fixture)
from tests.marketplace.conftest import _fresh_books, market  # noqa: F401 (fixtures: usage and invoices need trades)
from tests.marketplace.test_retail import clock, retail  # noqa: F401 (fixtures: and reservations)


@pytest.fixture
def buyer(make_org):
    return make_org(buyer=True)


@pytest.fixture
def seller(make_org):
    return make_org(provider=True)
