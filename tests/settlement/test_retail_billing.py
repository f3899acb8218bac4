"""Retail on the invoice (trading standard §6, §7, §11): per-time reservations charged whole in
the month they start, metered per-volume usage rated by time of use and tier, late usage as dated
adjustments on the next invoice, and the reservations' holds giving way to the invoice."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from marketplace.models import Billing
from marketplace.services import reservation_cancel, reservations_complete
from settlement.models import Hold, Invoice, Purpose
from settlement.rating import PER_VOLUME, Period, Product, UsageRecord, volume_lines
from settlement.selectors import rating_reference
from settlement.services import account_for, usage_ingest
from settlement.services.invoices import invoice_draft, invoices_issue_due
from tests.marketplace.test_retail import NOW, H, list_, reserve

pytestmark = pytest.mark.django_db

DECEMBER = date(2026, 12, 1)
JANUARY = date(2027, 1, 1)
JAN_1 = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # 2027-01-01 00:00 in Shanghai
FEB_1 = datetime(2027, 1, 31, 16, 0, tzinfo=UTC)


def acme(retail):
    return retail["acme"][1]


def balance(purpose, org=None):
    return account_for(purpose=purpose, organisation=org).balance


def test_a_per_time_reservation_is_charged_to_the_minute_and_paid_from_its_hold(retail, clock):
    listing = list_(retail, units=10)
    r = reserve(retail, listing, units=8, start=NOW + H, end=NOW + 4 * H)
    clock["now"] = NOW + H + timedelta(seconds=3601)
    user, org = retail["acme"]
    reservation_cancel(actor=user, organisation=org, reservation_id=r.pk)  # §13 example 1: 61 min → 173.73
    gridco = retail["provider"][1]
    payable = balance(Purpose.PROVIDER_PAYABLE, gridco)

    draft = invoice_draft(organisation=org, period=DECEMBER)
    (line,) = draft.lines.all()
    assert (line.kind, line.product, line.minutes, line.amount, line.provider) == (
        "retail_time",
        "H100-80G.YRD.MAIN.retail.time",
        61,
        Decimal("173.73"),
        gridco,
    )
    assert line.quantity == Decimal("8.133333") and line.reservation_id == r.pk
    cash = balance(Purpose.BUYER_CASH, org)
    clock["now"] = JAN_1 + H
    (number,) = invoices_issue_due(now=clock["now"])
    invoice = Invoice.objects.get(number=number)
    # VAT 6 % of 173.73 = 10.4238 → 10.42; the hold's 173.73 goes back to cash, which pays 184.15
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.status) == (
        Decimal("173.73"),
        Decimal("10.42"),
        Decimal("184.15"),
        "paid",
    )
    hold = Hold.objects.get(pk=r.hold_id)
    assert (hold.status, hold.remaining) == ("closed", 0)
    assert cash + Decimal("173.73") - balance(Purpose.BUYER_CASH, org) == Decimal("184.15")
    assert balance(Purpose.PROVIDER_PAYABLE, gridco) - payable == Decimal("173.73")
    assert balance(Purpose.BUYER_HOLDS, org) == 0


def test_a_reservation_cancelled_before_it_starts_is_not_invoiced(retail, clock):
    r = reserve(retail, list_(retail), start=NOW + 2 * H, end=NOW + 3 * H)
    user, org = retail["acme"]
    reservation_cancel(actor=user, organisation=org, reservation_id=r.pk)
    assert invoice_draft(organisation=org, period=DECEMBER).lines.count() == 0
    assert invoices_issue_due(now=JAN_1 + H) == []


def record(reservation, record_id, start, hours, quantity):
    return {"record_id": record_id, "reservation": reservation.pk, "meter": "gpu_seconds", "quantity": str(quantity),
            "start": start.isoformat(), "end": (start + hours * H).isoformat()}  # fmt: skip


def test_per_volume_usage_is_rated_like_the_engine_and_late_usage_is_adjusted_next_month(retail, clock):
    org = acme(retail)
    listing = list_(retail, billing=Billing.PER_VOLUME, price=Decimal("21.3600"), units=8,
                    available_until=NOW + 40 * 24 * H)  # fmt: skip
    # 2026-12-31 19:00 – 2027-01-01 03:00 local: across the month's end and several time-of-use periods
    start = datetime(2026, 12, 31, 11, 0, tzinfo=UTC)
    clock["now"] = start - H
    r = reserve(retail, listing, units=8, start=start, end=start + 8 * H)
    clock["now"] = start + 8 * H
    pool = retail["pool"]
    first = [
        record(r, "r1", start, 2, 8 * 7200),
        record(r, "r2", start + 2 * H, 4, 5 * 4 * 3600),
        record(r, "r1", start, 2, 8 * 7200),
    ]  # fmt: skip  (a repeat: counted once)
    assert [x.status for x in usage_ingest(pool=pool, records=first, now=clock["now"])] == [
        "accepted",
        "accepted",
        "duplicate",
    ]
    reservations_complete(now=clock["now"])

    draft = invoice_draft(organisation=org, period=DECEMBER)
    tariffs, _ = rating_reference()
    product = Product("H100-80G.YRD.MAIN.retail.volume", PER_VOLUME, Decimal("21.3600"))
    typed = [
        UsageRecord("r1", "gpu_seconds", Decimal(8 * 7200), start, start + 2 * H),
        UsageRecord("r2", "gpu_seconds", Decimal(5 * 4 * 3600), start + 2 * H, start + 6 * H),  # to 01:00 on Jan 1
    ]
    expected = volume_lines(product=product, records=typed, tariff=tariffs["YRD"], period=Period(2026, 12))
    got = sorted((x.tou, x.discount, x.quantity, x.amount) for x in draft.lines.all())
    assert got == sorted((x.tou, x.discount, x.hours, x.amount) for x in expected)
    assert all(x.kind == "retail_volume" and x.provider == retail["provider"][1] for x in draft.lines.all())
    # each line says how its amount follows from the unit price shown beside it
    multiplier = {"peak": "1.50", "flat": "1.00", "valley": "0.50"}
    assert {x.description for x in draft.lines.all()} == {
        f"Metered use, {x.tou} hours (unit price × {multiplier[x.tou]}), no volume discount" for x in expected
    }
    assert draft.subtotal == sum(x.amount for x in expected)

    clock["now"] = JAN_1 + H
    (december,) = invoices_issue_due(now=clock["now"])
    assert Hold.objects.get(pk=r.hold_id).status == "closed"  # ended and invoiced: the hold gave way

    # a record of December arrives late, after December's invoice
    late = [record(r, "r3", start + 4 * H, 1, 3600)]  # 22:00–23:00 local on the 31st: 1 unit-hour
    clock["now"] = JAN_1 + 2 * H
    assert usage_ingest(pool=pool, records=late, now=clock["now"])[0].status == "accepted"
    january = invoice_draft(organisation=org, period=JANUARY)
    adjustments = [x for x in january.lines.all() if x.kind == "adjustment"]
    typed.append(UsageRecord("r3", "gpu_seconds", Decimal(3600), start + 4 * H, start + 5 * H))
    redone = volume_lines(product=product, records=typed, tariff=tariffs["YRD"], period=Period(2026, 12))
    assert sum(x.amount for x in adjustments) == sum(x.amount for x in redone) - sum(x.amount for x in expected)
    assert {x.service_date for x in adjustments} == {DECEMBER} and december in adjustments[0].description
    # January's own usage (the part of the records after midnight) is on January's invoice too
    assert any(x.kind == "retail_volume" for x in january.lines.all())

    # once January is issued, a second late record of December is adjusted on February's, alone
    clock["now"] = FEB_1 + H
    invoices_issue_due(now=clock["now"])
    clock["now"] = FEB_1 + 2 * H
    usage_ingest(pool=pool, records=[record(r, "r4", start + H, 1, 3600)], now=clock["now"])
    february = invoice_draft(organisation=org, period=date(2027, 2, 1))
    typed.append(UsageRecord("r4", "gpu_seconds", Decimal(3600), start + H, start + 2 * H))
    again = volume_lines(product=product, records=typed, tariff=tariffs["YRD"], period=Period(2026, 12))
    assert sum(x.amount for x in february.lines.all()) == sum(x.amount for x in again) - sum(x.amount for x in redone)


def test_an_invoices_charges_export_as_rating_cases_that_rate_to_its_lines(retail, clock, tmp_path, capsys):
    import json

    from django.core.management import call_command

    from settlement.services.rating_cases import invoice_cases_json, invoice_rerate

    per_time = list_(retail, units=4)
    per_volume = list_(retail, billing=Billing.PER_VOLUME, units=4, price=Decimal("19.9900"))
    reserve(retail, per_time, units=4, start=NOW + H, end=NOW + 3 * H, key="t")
    metered = reserve(retail, per_volume, units=4, start=NOW + H, end=NOW + 9 * H, key="v")
    clock["now"] = NOW + 10 * H
    usage_ingest(pool=retail["pool"], now=clock["now"], records=[
        record(metered, f"m{i}", NOW + H + i * H / 2, 0.75, 4 * 2700 - i) for i in range(14)
    ])  # fmt: skip
    reservations_complete(now=clock["now"])
    clock["now"] = JAN_1 + H
    (number,) = invoices_issue_due(now=clock["now"])
    invoice = Invoice.objects.get(number=number)
    checked = invoice_rerate(invoice)
    assert len(checked) == 2 and all(c.difference == 0 for c in checked)
    assert sum(c.rated for c in checked) == invoice.subtotal
    assert {c.case.case.product.billing for c in checked} == {"per_time", "per_volume"}
    assert invoice_cases_json(invoice)["cases"][0]["case"]["period"] == "2026-12"

    call_command("export_rating_cases", number, "--out", str(tmp_path))
    written = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for item in written:
        call_command("rate", item["file"])
        rated = json.loads(capsys.readouterr().out)
        assert rated["subtotal"] == item["billed"], item
    assert sum(Decimal(item["billed"]) for item in written) == invoice.subtotal


def test_a_volume_discount_is_written_as_a_percentage(reference_data):
    from catalog.selectors import tou_multipliers
    from settlement.services.invoices import _volume_terms

    assert (
        _volume_terms("valley", Decimal("0.05"), tou_multipliers())
        == "valley hours (unit price × 0.50), volume discount 5 %"
    )
