"""My account's overview (/dashboard/): balance, open orders, recent fills, active contracts and
reservations, this month's usage and the last invoice, each linking to its page."""

import re

import pytest
from django.urls import reverse

from tests.marketplace.test_orders import match, place
from tests.settlement.test_usage_page import metered  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def card(page, section_id):
    """The text of one summary card, tags stripped and spaces squeezed."""
    match_ = re.search(rf'<section class="card" aria-labelledby="[^"]+" id="{section_id}">(.*?)</section>', page, re.S)
    assert match_, section_id
    return " ".join(re.sub(r"<[^>]+>", " ", match_.group(1)).split())


def test_the_overview_sums_up_the_account(client, market, django_assert_max_num_queries):
    place(market, "gridco", "sell", 16, "12.00")
    place(market, "acme", "buy", 8, "12.10")
    resting = place(market, "acme", "buy", 8, "11.00")
    match(market)
    client.force_login(market["users"]["acme"])
    with django_assert_max_num_queries(30):
        page = client.get(reverse("accounts:dashboard")).content.decode()
    code = market["instrument"].code
    # funded 1,000,000.00; the trade cost 12.00 × 8 × 168 = 16,128.00 + 0.3 % fee 48.38; the resting
    # bid holds 11.00 × 8 × 168 = 14,784.00 + 44.35
    balance = page[page.index('id="balance"') : page.index("</section>", page.index('id="balance"'))]
    assert re.findall(r'<p class="big">([^<]+)</p>', balance) == [
        "¥968,995.27",  # available = prepaid + credit limit − holds
        "¥983,823.62",  # prepaid, holds included
        "¥14,828.35",  # on hold
        "¥0.00",  # credit limit
    ]
    assert card(page, "open-orders") == f"Open orders 1 #{resting.pk} {code} · Buy (bid) 0/8 @ ¥11.0000 All orders →"
    assert re.fullmatch(rf"Recent fills \d\d-\d\d \d\d:\d\d {code} · bought 8 @ ¥12.0000 Orders and fills →",
                        card(page, "recent-fills"))  # fmt: skip
    assert card(page, "active-contracts").startswith(f"Active contracts 1 {code} · 8 units ·")
    assert card(page, "active-reservations") == "Active reservations 0 No active reservations. All reservations →"
    assert "0.000000 unit-hours" in card(page, "month-usage")
    assert card(page, "last-invoice") == "Last invoice No invoice issued yet. All invoices →"
    for name in (
        "marketplace:orders",
        "marketplace:contracts",
        "marketplace:reservations",
        "settlement:usage",
        "settlement:invoices",
        "settlement:funds",
        "accounts:api_keys",
        "accounts:members",
        "mfa_index",
    ):
        assert f'href="{reverse(name)}"' in page, name  # fmt: skip
    assert 'href="/dashboard/" aria-current="page"' in page


def test_the_overview_shows_this_months_usage_and_the_invoice(client, metered):  # noqa: F811
    from settlement.services.invoices import invoice_draft
    from tests.settlement.test_usage_page import DECEMBER

    user, org = metered["acme"]
    draft = invoice_draft(organisation=org, period=DECEMBER)
    client.force_login(user)
    page = client.get(reverse("accounts:dashboard")).content.decode()
    assert card(page, "month-usage") == (
        "Usage in 2026-12 21.277917 unit-hours Peak: 2.000000 Flat: 13.000000 Valley: 6.277917 "
        f"Draft invoice so far: {'¥433.34'} Usage by day →"
    )
    assert draft.total.to_eng_string() == "433.34"
    # the reservation ended at 02:00 on the 3rd; it is the 3rd, 12:00: no longer active
    assert card(page, "active-reservations").startswith("Active reservations 0 No active reservations.")
