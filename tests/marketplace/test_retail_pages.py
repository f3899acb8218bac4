"""The retail pages: the shelf, a listing with its quote-then-confirm reservation form, my
reservations with cancel, and a provider's listings with create and withdraw."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from marketplace.models import Listing, ListingStatus, Reservation, ReservationStatus
from marketplace.services import ListingTerms, listing_create
from settlement.services import usage_ingest
from tests.marketplace.conftest import connected_pool

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


@pytest.fixture
def shelf(make_org, reference_data, operator, fund):
    gridco_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    fund(acme, "10000.00")
    pool = connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-1", units=14)
    start = (timezone.now() + 2 * H).replace(minute=0, second=0, microsecond=0)

    def listing(**overrides):
        terms = {"pool_id": pool.pk, "resource_class": "H100-80G", "units": 8, "price": Decimal("21.3600"),
                 "billing": "per_time", "minimum_minutes": 60, "available_from": timezone.now(),
                 "available_until": start + 48 * H} | overrides  # fmt: skip
        return listing_create(actor=gridco_user, organisation=gridco, terms=ListingTerms(**terms))

    return {"provider": gridco_user, "buyer": acme_user, "pool": pool, "start": start, "listing": listing}


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_the_shelf_lists_open_listings_and_filters(client, shelf):
    per_time = shelf["listing"]()
    per_volume = shelf["listing"](billing="per_volume", minimum_minutes=15, units=2, price=Decimal("30.0000"))
    client.force_login(shelf["buyer"])
    body = client.get(reverse("marketplace:retail_index")).content.decode()
    assert "21.3600" in body and "30.0000" in body and "GridCo" in body
    assert reverse("marketplace:listing_detail", kwargs={"listing_id": per_time.pk}) in body
    body = client.get(reverse("marketplace:retail_index"), {"billing": "per_volume"}).content.decode()
    assert "30.0000" in body and "21.3600" not in body
    assert reverse("marketplace:listing_detail", kwargs={"listing_id": per_volume.pk}) in body


def test_quote_shows_the_exact_charge_then_confirm_reserves(client, shelf):
    listing = shelf["listing"]()
    client.force_login(shelf["buyer"])
    url = reverse("marketplace:listing_detail", kwargs={"listing_id": listing.pk})
    form = {"units": 8, "start": local(shelf["start"]), "end": local(shelf["start"] + 61 * timedelta(minutes=1))}
    r = client.post(url, {**form, "quote": "1", "idempotency_key": "q"})
    body = r.content.decode()
    assert r.status_code == 200 and 'id="quote"' in body
    assert "¥173.73" in body and "61 minutes" in body  # 21.36 × 8 × 61 / 60
    assert not Reservation.objects.exists()
    r = client.post(url, {**form, "confirm": "1", "idempotency_key": "q"})
    assert r.status_code == 302 and r["Location"] == reverse("marketplace:reservations")
    client.post(url, {**form, "confirm": "1", "idempotency_key": "q"})  # a double submit
    (reservation,) = Reservation.objects.all()
    assert (reservation.units, reservation.hold_amount, reservation.start) == (8, Decimal("173.73"), shelf["start"])


def test_a_per_volume_quote_shows_the_price_per_period(client, shelf):
    listing = shelf["listing"](billing="per_volume", minimum_minutes=15, price=Decimal("20.0000"))
    client.force_login(shelf["buyer"])
    url = reverse("marketplace:listing_detail", kwargs={"listing_id": listing.pk})
    form = {"units": 2, "start": local(shelf["start"]), "end": local(shelf["start"] + H), "quote": "1"}
    body = client.post(url, form).content.decode()
    assert "peak: ¥30" in body and "flat: ¥20" in body and "valley: ¥10" in body
    assert "¥60.00" in body  # the hold: 20 × 2 × 1 h × 1.50


def test_per_period_prices_are_written_as_prices(client, shelf):
    listing = shelf["listing"](billing="per_volume", minimum_minutes=15, price=Decimal("21.3333"))
    client.force_login(shelf["buyer"])
    url = reverse("marketplace:listing_detail", kwargs={"listing_id": listing.pk})
    form = {"units": 2, "start": local(shelf["start"]), "end": local(shelf["start"] + H), "quote": "1"}
    body = client.post(url, form).content.decode()
    # 4 places as every price; exact where the multiplier makes it finer (21.3333 × 1.50)
    assert "peak: ¥31.99995<" in body and "flat: ¥21.3333<" in body and "valley: ¥10.66665<" in body


def test_buyer_and_provider_see_the_usage_reported_so_far(client, shelf):
    listing = shelf["listing"](billing="per_volume", minimum_minutes=15)
    client.force_login(shelf["buyer"])
    url = reverse("marketplace:listing_detail", kwargs={"listing_id": listing.pk})
    start = shelf["start"]
    client.post(url, {"units": 2, "start": local(start), "end": local(start + H), "confirm": "1"})
    reservation = Reservation.objects.get()
    mine = reverse("marketplace:reservations")
    assert '<td class="num">—</td>' in client.get(mine).content.decode()  # nothing reported yet
    record = {"record_id": "m-1", "reservation": reservation.pk, "meter": "gpu_seconds", "quantity": "5400",
              "start": start.isoformat(), "end": (start + H).isoformat()}  # fmt: skip
    other = {**record, "record_id": "m-2", "quantity": "1", "start": (start + H / 2).isoformat()}
    results = usage_ingest(pool=shelf["pool"], records=[record, other], now=start + H)
    assert [r.status for r in results] == ["accepted", "accepted"]
    assert ">1.500278<" in client.get(mine).content.decode()  # 5,401 GPU-seconds in unit-hours
    client.force_login(shelf["provider"])
    body = client.get(reverse("marketplace:my_listings")).content.decode()
    assert 'id="sold"' in body and ">1.500278<" in body and f'<td class="num">{reservation.pk}</td>' in body


def test_a_refusal_shows_on_the_form(client, shelf):
    listing = shelf["listing"]()
    client.force_login(shelf["buyer"])
    url = reverse("marketplace:listing_detail", kwargs={"listing_id": listing.pk})
    form = {"units": 9, "start": local(shelf["start"]), "end": local(shelf["start"] + H), "confirm": "1"}
    body = client.post(url, form).content.decode()
    assert "Only 8 unit(s) of this listing are free" in body
    assert not Reservation.objects.exists()


def test_my_reservations_lists_and_cancels(client, shelf):
    listing = shelf["listing"]()
    client.force_login(shelf["buyer"])
    url = reverse("marketplace:listing_detail", kwargs={"listing_id": listing.pk})
    client.post(url, {"units": 2, "start": local(shelf["start"]), "end": local(shelf["start"] + H), "confirm": "1"})
    reservation = Reservation.objects.get()
    body = client.get(reverse("marketplace:reservations")).content.decode()
    assert "gridco-1" in body and "42.72" in body
    cancel = reverse("marketplace:reservation_cancel", kwargs={"reservation_id": reservation.pk})
    assert cancel in body
    assert client.post(cancel).status_code == 302
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.CANCELLED
    assert cancel not in client.get(reverse("marketplace:reservations")).content.decode()


def test_a_provider_creates_and_withdraws_listings(client, shelf):
    client.force_login(shelf["provider"])
    url = reverse("marketplace:my_listings")
    assert 'id="listing-form"' in client.get(url).content.decode()
    until = local(shelf["start"] + 24 * H)
    form = {"pool": shelf["pool"].pk, "resource_class": "H100-80G", "units": 4, "price": "10.0000",
            "billing": "per_time", "minimum_minutes": 60, "available_until": until}  # fmt: skip
    body = client.post(url, form).content.decode()
    assert "below the cost" in body and not Listing.objects.exists()
    assert client.post(url, {**form, "price": "12.5000"}).status_code == 302
    listing = Listing.objects.get()
    withdraw = reverse("marketplace:listing_withdraw", kwargs={"listing_id": listing.pk})
    assert withdraw in client.get(url).content.decode()
    client.post(withdraw)
    listing.refresh_from_db()
    assert listing.status == ListingStatus.WITHDRAWN


def test_buyers_without_pools_cannot_open_my_listings(client, shelf):
    client.force_login(shelf["buyer"])
    assert client.get(reverse("marketplace:my_listings")).status_code == 403
