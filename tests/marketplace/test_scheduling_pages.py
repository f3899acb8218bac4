"""The "Schedule for me" pages with Django's test client: the form (every field labelled, inline
errors, nothing lost on a refused submit), the demand page with the proposal's parts, totals and
the saving against the cheapest single listing, confirm and cancel, another organisation's 404."""

import re

import pytest
from django.utils import timezone

from marketplace.models import Demand, DemandStatus, Reservation
from marketplace.services.scheduling import scheduling_round
from tests.marketplace.scheduling_setup import NEXT, H, list_on

pytestmark = pytest.mark.django_db


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def form(**overrides) -> dict:
    d = {"resource_class": "H100-80G", "units": "12", "min_scu": "", "hours": "4",
         "earliest_start": local(NEXT), "latest_finish": local(NEXT + 4 * H), "city": "SH", "max_rtt_ms": "40",
         "residency": "", "carbon_weight": "0.2", "max_price": "", "idempotency_key": "f1"}  # fmt: skip
    d.update(overrides)
    return d


def test_the_form_labels_every_field_and_is_linked_from_the_navigation(client, sched):
    client.force_login(sched["users"]["acme"])
    page = client.get("/schedule/").content.decode()
    for name in ("resource_class", "units", "min_scu", "hours", "earliest_start", "latest_finish", "city",
                 "max_rtt_ms", "residency", "carbon_weight", "max_price"):  # fmt: skip
        assert f'<label for="id_{name}">' in page, name
    assert 'name="regions"' in page and "Allowed regions" in page
    assert 'href="/schedule/"' in client.get("/retail/").content.decode()
    assert 'href="/schedule/"' in client.get("/market/").content.decode()
    assert 'href="/schedule/"' in client.get("/shelf/").content.decode()


def test_a_refused_submit_shows_errors_inline_and_keeps_what_was_typed(client, sched):
    client.force_login(sched["users"]["acme"])
    r = client.post("/schedule/", form(units="0", city="", max_rtt_ms="15", residency="YRD", regions=["NMG"],
                                       carbon_weight="0.7500"))  # fmt: skip
    assert r.status_code == 200
    page = r.content.decode()
    assert re.search(r'id_units_error">.*?Ask for at least 1 unit', page, re.S)
    assert re.search(r'id_city_error">.*?A latency ceiling needs the city core', page, re.S)
    assert re.search(r'id_residency_error">.*?must be one of the allowed regions', page, re.S)
    assert 'name="max_rtt_ms" value="15"' in page and 'name="carbon_weight" value="0.7500"' in page
    assert re.search(r'name="regions" value="NMG"[^>]*checked', page)
    assert not re.search(r'name="regions" value="YRD"[^>]*checked', page)
    assert Demand.objects.count() == 0


def test_state_see_and_confirm_a_placement(client, sched):
    cheap = list_on(sched, "yrd_open", price="13.0000", units=8)
    dear = list_on(sched, "yrd", price="15.0000", units=16)
    client.force_login(sched["users"]["acme"])
    r = client.post("/schedule/", form())
    demand = Demand.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/schedule/{demand.pk}/"
    page = client.get(r["Location"]).content.decode()
    assert "Waiting for a scheduling round" in page and "js/schedule.js" in page
    assert client.get(f"/schedule/{demand.pk}/live.json").json() == {"id": demand.pk, "status": "submitted"}
    scheduling_round()
    page = client.get(f"/schedule/{demand.pk}/").content.decode()
    assert f"Listing #{cheap.pk}" in page and f"Listing #{dear.pk}" in page
    # times in Asia/Shanghai: 11:00–15:00 local for 03:00–07:00 UTC
    assert "2026-12-01 11:00 – 2026-12-01 15:00" in page
    assert "¥416.00" in page  # 8 × 4 h × 13.00
    assert "Cheapest single listing" in page and "you save" in page
    assert 'id="confirm"' in page
    r = client.post(f"/schedule/{demand.pk}/confirm/")
    assert r.status_code == 302
    page = client.get(r["Location"]).content.decode()
    assert "Placement confirmed" in page
    reservations = Reservation.objects.filter(buyer=sched["orgs"]["acme"]).order_by("pk")
    assert [r.units for r in reservations] == [8, 4]
    for reservation in reservations:
        assert f"Reservation #{reservation.pk}" in page
    assert 'href="/reservations/"' in page
    demand.refresh_from_db()
    assert demand.status == DemandStatus.CONFIRMED


def test_cancel_and_another_organisation_sees_nothing(client, sched):
    client.force_login(sched["users"]["acme"])
    client.post("/schedule/", form())
    demand = Demand.objects.get()
    client.force_login(sched["users"]["bolt"])
    assert client.get(f"/schedule/{demand.pk}/").status_code == 404
    assert client.post(f"/schedule/{demand.pk}/cancel/").status_code == 404
    assert client.get(f"/schedule/{demand.pk}/live.json").status_code == 404
    assert f"/schedule/{demand.pk}/" not in client.get("/schedule/").content.decode()
    client.force_login(sched["users"]["acme"])
    r = client.post(f"/schedule/{demand.pk}/cancel/")
    assert r.status_code == 302
    demand.refresh_from_db()
    assert demand.status == DemandStatus.CANCELLED
    assert "Cancelled by the buyer." in client.get(f"/schedule/{demand.pk}/").content.decode()


def test_a_wholesale_part_confirmed_on_the_page_links_to_its_order(client, sched):
    from decimal import Decimal

    from marketplace.models import Order
    from marketplace.services import OrderTerms, instrument_ensure, order_place
    from tests.marketplace.conftest import next_week_code

    instrument = instrument_ensure(code=next_week_code())
    order_place(actor=sched["users"]["gridco"], organisation=sched["orgs"]["gridco"], idempotency_key="s",
                terms=OrderTerms(instrument=instrument.code, side="sell", type="limit", qty=8, tif="GTC",
                                 price=Decimal("12.00")))  # fmt: skip
    client.force_login(sched["users"]["acme"])
    start = instrument.window_start
    client.post("/schedule/", form(units="8", hours="24", earliest_start=local(start), city="",
                                   max_rtt_ms="", latest_finish=local(start + 24 * H)))  # fmt: skip
    demand = Demand.objects.get()
    scheduling_round()
    page = client.get(f"/schedule/{demand.pk}/").content.decode()
    assert f"<code>{instrument.code}</code>" in page and "Wholesale ask" in page
    assert "¥16,128.00" in page  # 12 × 8 × 168: the whole window is bought
    client.post(f"/schedule/{demand.pk}/confirm/")
    order = Order.objects.get(organisation=sched["orgs"]["acme"])
    page = client.get(f"/schedule/{demand.pk}/").content.decode()
    assert f"Order #{order.pk}" in page and 'href="/orders/"' in page and "IOC buy" in page
