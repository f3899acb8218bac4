"""The ledger invariant checker after every money scenario. Conftests that want it import the
fixture (settlement, marketplace); a test marked ``ledger_tampered`` breaks the ledger on purpose."""

import pytest

from settlement.selectors import ledger_check_run


@pytest.fixture(autouse=True)
def _ledger_checked_after_every_test(request):
    """Runs before the database is rolled back: for a test that uses the database it asks for
    pytest-django's database fixture, which is then torn down after it. A test that does not is
    left without a database (asking for it regardless gave every such test one, out of
    pytest-django's order: after the browser tests, whose event loop's context then kept that
    connection open until the test database was dropped)."""
    checked = request.node.get_closest_marker("django_db") and not request.node.get_closest_marker("ledger_tampered")
    if checked:
        request.getfixturevalue("_django_db_helper")
    yield
    if checked:
        report = ledger_check_run(store=False)
        assert report["ok"], report
