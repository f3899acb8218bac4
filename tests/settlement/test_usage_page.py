"""The usage page (/usage/): a month's metered unit-hours by local day and time-of-use period,
cut by the rating engine as the invoice cuts them, with the month's charges so far."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from marketplace.models import Billing
from settlement.models import Invoice
from settlement.selectors import charges_so_far, usage_month
from settlement.services import usage_ingest
from settlement.services.invoices import invoice_draft
from tests.marketplace.test_retail import list_, reserve

pytestmark = pytest.mark.django_db

DECEMBER = date(2026, 12, 1)
LOCAL = timedelta(hours=8)


def local(day, hour, minute=0):
    """A local (Asia/Shanghai) wall-clock time in December 2026 as an aware UTC instant."""
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC) - LOCAL


def body(reservation, record_id, start, end, quantity):
    return {"record_id": record_id, "reservation": reservation.pk, "meter": "gpu_seconds", "quantity": str(quantity),
            "start": start.isoformat(), "end": end.isoformat()}  # fmt: skip


@pytest.fixture
def metered(retail, clock):
    """Acme's per-volume reservation of 8 H100 in YRD (peak 08–11 and 17–21, flat 07, 11–17 and
    21–23, valley 23–07 local) from 1 Dec 11:00 to 3 Dec 02:00 local, and four records:

    - 1 Dec 11:00–12:00, 8 units busy:              8 flat on the 1st (inside one hour)
    - 1 Dec 16:30–17:30, 14,400 unit-seconds:       2 flat + 2 peak on the 1st (cut at 17:00)
    - 2 Dec 22:00 – 3 Dec 01:00, 32,400 u-s:        3 flat + 3 valley on the 2nd, 3 valley on the 3rd
    - 3 Dec 01:00–01:20, 1,000.5 u-s:               0.2779166… valley on the 3rd
    Bolt's usage on the same pool must not show on Acme's page."""
    listing = list_(retail, billing=Billing.PER_VOLUME, price=Decimal("21.3600"), units=12)
    mine = reserve(retail, listing, units=8, start=local(1, 11), end=local(3, 2), key="acme")
    theirs = reserve(retail, listing, who="bolt", units=4, start=local(1, 11), end=local(1, 13), key="bolt")
    clock["now"] = local(3, 12)
    records = [
        body(mine, "a1", local(1, 11), local(1, 12), 8 * 3600),
        body(mine, "a2", local(1, 16, 30), local(1, 17, 30), 14400),
        body(mine, "a3", local(2, 22), local(3, 1), 32400),
        body(mine, "a4", local(3, 1), local(3, 1, 20), Decimal("1000.5")),
        body(theirs, "b1", local(1, 11), local(1, 13), 4 * 7200),
    ]
    assert {r.status for r in usage_ingest(pool=retail["pool"], records=records, now=clock["now"])} == {"accepted"}
    return retail


def test_the_month_by_day_and_period_is_exact(metered):
    month = usage_month(organisation=metered["acme"][1], period=DECEMBER)
    used = {d.day.day: (d.hours["peak"], d.hours["flat"], d.hours["valley"], d.total) for d in month.days if d.total}
    assert used == {
        1: (Decimal("2.000000"), Decimal("10.000000"), Decimal("0.000000"), Decimal("12.000000")),
        2: (Decimal("0.000000"), Decimal("3.000000"), Decimal("3.000000"), Decimal("6.000000")),
        3: (Decimal("0.000000"), Decimal("0.000000"), Decimal("3.277917"), Decimal("3.277917")),
    }
    assert len(month.days) == 31 and month.days[0].day == DECEMBER and month.days[-1].day == date(2026, 12, 31)
    assert (month.hours, month.total) == (
        {"peak": Decimal("2.000000"), "flat": Decimal("13.000000"), "valley": Decimal("6.277917")},
        Decimal("21.277917"),
    )
    (product,) = month.products
    assert (product.resource_class, product.region, product.billing, product.total) == (
        "H100-80G",
        "YRD",
        "per_volume",
        Decimal("21.277917"),
    )


def test_the_charges_so_far_are_the_invoices(metered):
    org = metered["acme"][1]
    charges = charges_so_far(organisation=org, period=DECEMBER)
    # peak 2 × 21.36 × 1.5 = 64.08; flat 13 × 21.36 = 277.68; valley 6.2779166… × 21.36 × 0.5 = 67.04815 → 67.05
    assert charges.volume == {"peak": Decimal("64.08"), "flat": Decimal("277.68"), "valley": Decimal("67.05")}
    assert (charges.per_time, charges.wholesale, charges.subtotal) == (Decimal("0.00"), Decimal("0.00"),
                                                                       Decimal("408.81"))  # fmt: skip
    assert (charges.tax, charges.total) == (Decimal("24.53"), Decimal("433.34"))  # VAT 6 %: 24.5286 → 24.53
    draft = invoice_draft(organisation=org, period=DECEMBER)
    assert (draft.subtotal, draft.tax, draft.total) == (charges.subtotal, charges.tax, charges.total)


def test_the_page_shows_the_chart_the_table_and_the_estimate(client, metered, django_assert_max_num_queries):
    client.force_login(metered["acme"][0])
    # Not one query per record or per day: the records are read in two queries (those inside one
    # hour summed per hour); the rest is the session, the catalogue's tariffs (read again by the
    # invoice's rating, and by each per-volume line's wording) and the draft charges.
    with django_assert_max_num_queries(23):
        r = client.get(reverse("settlement:usage"))  # this month: December, by the clock
    assert r.status_code == 200
    page = r.content.decode()
    rows = re.findall(r"<tr><th scope=\"row\">([^<]+)</th>((?:<td class=\"num\">[^<]*</td>)+)</tr>", page)
    cells = [(day, re.findall(r">([^<]*)</td>", tds)) for day, tds in rows]
    assert cells == [
        ("2026-12-01", ["2.000000", "10.000000", "0.000000", "12.000000"]),
        ("2026-12-02", ["0.000000", "3.000000", "3.000000", "6.000000"]),
        ("2026-12-03", ["0.000000", "0.000000", "3.277917", "3.277917"]),
    ]
    assert '<strong id="estimated-total">¥433.34</strong>' in page
    assert 'type="month" name="month" value="2026-12"' in page  # the month shown, in its field
    assert "¥277.68" in page and "¥64.08" in page and "¥67.05" in page
    # the chart: one bar slot per day of the month, a rectangle per (day, period) with use
    svg = page[page.index('<svg id="usage-chart"') : page.index("</svg>")]
    assert svg.count('<g class="bar">') == 31
    assert len(re.findall(r'<rect class="series-(peak|flat|valley)"', svg)) == 5
    assert "12-03 · Valley: 3.277917 unit-hours" in svg
    assert "Bolt" not in page and "28,800" not in page


def test_the_month_parameter(client, metered):
    client.force_login(metered["acme"][0])
    r = client.get(reverse("settlement:usage"), {"month": "2026-11"})
    assert r.status_code == 200
    page = r.content.decode()
    assert 'id="usage-empty"' in page and "No usage was metered in 2026-11." in page
    assert 'id="usage-chart"' not in page and '<strong id="estimated-total">¥0.00</strong>' in page
    assert 'href="?month=2026-12" rel="next"' in page  # the month after, up to this one
    december = client.get(reverse("settlement:usage"), {"month": "2026-12"}).content.decode()
    assert "3.277917" in december and 'rel="next"' not in december
    for bad, reason in (
        ("2026-13", "A month as YYYY-MM, e.g. 2026-12."),
        ("december", "A month as YYYY-MM, e.g. 2026-12."),
        ("2026-12-01", "A month as YYYY-MM, e.g. 2026-12."),
        ("1999-12", "Choose a month from 2000-01 to 2099-12."),
        ("9999-12", "Choose a month from 2000-01 to 2099-12."),
    ):
        r = client.get(reverse("settlement:usage"), {"month": bad})
        page = r.content.decode()
        assert r.status_code == 400, bad
        assert f'<div class="field-errors" id="id_month_error"><p class="error">{reason}</p></div>' in page, bad
        assert 'aria-invalid="true"' in page and 'aria-describedby="id_month_error"' in page
        assert f'value="{bad}"' in page  # what was typed stays in the field
        assert 'id="usage-chart"' not in page and "estimated-total" not in page


def test_no_usage_is_a_clear_empty_state(client, make_org):
    user, _ = make_org(name="Quiet Co")
    client.force_login(user)
    page = client.get(reverse("settlement:usage")).content.decode()
    assert 'id="usage-empty"' in page and Invoice.objects.count() == 0
