"""Amounts site-wide: every page writes money as ¥ with thousands separators (the `yuan` filter)
and times in Asia/Shanghai."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import timezone


@pytest.mark.django_db
def test_the_funds_page_shows_a_top_up_of_1234_5_as_yuan_with_separators(client, make_org, fund):
    user, org = make_org(name="Acme AI")
    fund(org, "1234.5")
    client.force_login(user)
    page = client.get(reverse("settlement:funds")).content.decode()
    # prepaid, available, the prepaid account's balance and the posting
    assert page.count("¥1,234.50") == 4
    assert "¥1234.5" not in page and "1,234.5<" not in page


@pytest.mark.django_db
def test_the_statement_of_account_writes_its_times_in_shanghai(client, make_org, fund, monkeypatch):
    user, org = make_org(name="Acme AI")
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 12, 1, 17, 30, tzinfo=UTC))  # the clock
    fund(org, "10")
    client.force_login(user)
    page = client.get(reverse("settlement:funds")).content.decode()
    assert "2026-12-02 01:30:00" in page  # 17:30 UTC is 01:30 the next day in Shanghai
    assert "2026-12-01 17:30" not in page
    assert timezone.get_current_timezone_name() == "Asia/Shanghai"


def test_no_template_writes_a_raw_amount():
    """The sweep stays done: no `¥{{ x }}` and no intcomma of money in any template."""
    from pathlib import Path

    from django.conf import settings

    raw = re.compile(r"¥\{\{|\|intcomma|\|floatformat")
    found = [
        f"{path.relative_to(settings.BASE_DIR)}:{n}"
        for path in (Path(settings.BASE_DIR) / "templates").rglob("*.html")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if raw.search(line)
    ]
    assert found == []


@pytest.mark.django_db
def test_the_messages_write_amounts_as_the_pages_do(client, make_org, operator):
    from settlement.services import bank_reference_for
    from tests.conftest import sign_in

    _, org = make_org(name="Acme AI")
    sign_in(client, operator)
    reference = bank_reference_for(organisation=org).code
    bank = {"form": "bank", "idempotency_key": "k1", "bank-reference": reference, "bank-amount": "12345.6",
            "bank-bank_transaction_id": "IN-9"}  # fmt: skip
    page = client.post(reverse("settlement:operator_money"), bank, follow=True).content.decode()
    assert f"Bank transfer IN-9: ¥12,345.60 to the prepaid funds of reference {reference}." in page
