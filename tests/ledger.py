"""The ledger invariant checker after every money scenario. Conftests that want it import the
fixture (settlement, marketplace); a test marked ``ledger_tampered`` breaks the ledger on purpose."""

import pytest

from settlement.selectors import ledger_check_run


@pytest.fixture(autouse=True)
def _ledger_checked_after_every_test(request, _django_db_helper):
    """Runs before the database is rolled back (it depends on pytest-django's database fixture,
    so it is torn down first)."""
    yield
    if request.node.get_closest_marker("django_db") and not request.node.get_closest_marker("ledger_tampered"):
        report = ledger_check_run(store=False)
        assert report["ok"], report
