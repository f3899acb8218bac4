"""Retail (trading standard §5, §6.1, §8): listings at a posted price, reservations on them, the
holds they place, cancellation, and that no pool is ever oversold — by reservations racing each
other or racing the wholesale book for the same pool."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Membership
from catalog.capacity import capacity_by_hour, sellable_units
from catalog.models import CapacityCommitment
from catalog.services import pool_suspend
from config.errors import ExchangeError, NotAllowed
from marketplace.models import Billing, ListingStatus, Reservation, ReservationStatus
from marketplace.selectors import reservation_charge, reservation_for_usage, reservations_starting
from marketplace.services import (
    ListingTerms,
    OrderTerms,
    ReservationTerms,
    instrument_ensure,
    listing_create,
    listing_withdraw,
    order_place,
    reservation_cancel,
    reservation_place,
    reservation_quote,
    reservations_complete,
)
from settlement.models import Hold
from settlement.services import available_funds
from tests.concurrency import race
from tests.factories import UserFactory
from tests.marketplace.conftest import connected_pool, next_week_code

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
M = timedelta(minutes=1)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
COST_H100_YRD = Decimal("10.0637")  # §8 cost 10.06370651…, rounded up to 4 places


@pytest.fixture
def clock(monkeypatch):
    """The clock (a true boundary): tests move it by hand."""
    state = {"now": NOW}
    monkeypatch.setattr(timezone, "now", lambda: state["now"])
    return state


@pytest.fixture
def retail(make_org, reference_data, operator, fund, clock):
    """A provider with a connected pool of 14 H100 in YRD/MAIN, and two funded buyers."""
    gridco_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    bolt_user, bolt = make_org(slug="bolt", name="Bolt Labs")
    fund(acme, "100000.00")
    fund(bolt, "100000.00")
    pool = connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-1", units=14)
    return {"provider": (gridco_user, gridco), "acme": (acme_user, acme), "bolt": (bolt_user, bolt), "pool": pool,
            "operator": operator}  # fmt: skip


def terms(pool, **overrides) -> ListingTerms:
    d = {"pool_id": pool.pk, "resource_class": "H100-80G", "units": 8, "price": Decimal("21.3600"),
         "billing": Billing.PER_TIME, "minimum_minutes": 60, "available_from": NOW,
         "available_until": NOW + 7 * 24 * H}  # fmt: skip
    d.update(overrides)
    return ListingTerms(**d)


def list_(retail, **overrides):
    user, org = retail["provider"]
    return listing_create(actor=user, organisation=org, terms=terms(retail["pool"], **overrides))


def reserve(retail, listing, *, who="acme", units=8, start=NOW + H, end=NOW + 2 * H, key="k1"):
    user, org = retail[who]
    return reservation_place(
        actor=user,
        organisation=org,
        terms=ReservationTerms(listing_id=listing.pk, units=units, start=start, end=end),
        idempotency_key=key,
    )


def refusal(call) -> tuple[str, str]:
    with pytest.raises(ExchangeError) as err:
        call()
    (field,) = err.value.fields or {None: None}
    return err.value.code, field


def offered_committed(pool, hour):
    (row,) = capacity_by_hour(pool_ids=[pool.pk], start=hour, end=hour + H)
    return row.offered, row.committed, row.sellable


# --- listings -----------------------------------------------------------------------------------


def test_a_listing_offers_its_units_for_its_availability(retail):
    listing = list_(retail)
    pool = retail["pool"]
    assert listing.status == ListingStatus.ACTIVE
    assert offered_committed(pool, NOW) == (8, 0, 6)
    assert offered_committed(pool, NOW + 7 * 24 * H - H) == (8, 0, 6)
    assert offered_committed(pool, NOW + 7 * 24 * H) == (0, 0, 14)


def test_the_floor_is_the_cost_not_the_reference_price(retail):
    # reference price of H100 in YRD is 11.57; cost is 10.06370651…
    assert list_(retail, price=Decimal("10.0638")).price == Decimal("10.0638")
    code, field = refusal(lambda: list_(retail, price=Decimal("10.0637")))
    assert (code, field) == ("below_cost_floor", "price")


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"minimum_minutes": 59}, "bad_duration", "minimum_minutes"),
        ({"billing": Billing.PER_VOLUME, "minimum_minutes": 0}, "bad_duration", "minimum_minutes"),
        ({"available_until": NOW}, "bad_availability", "available_until"),
        ({"available_until": NOW + 93 * 24 * H}, "bad_availability", "available_until"),
        ({"available_until": NOW + 30 * M}, "bad_duration", "minimum_minutes"),
        ({"units": 15}, "insufficient_capacity", "units"),
        ({"resource_class": "A800-80G"}, "invalid_choice", "resource_class"),
        ({"price": Decimal("12.00001")}, "invalid", "price"),
    ],
)
def test_refused_listings_say_why_and_offer_nothing(retail, overrides, code, field):
    assert refusal(lambda: list_(retail, **overrides)) == (code, field)
    assert not CapacityCommitment.objects.exists()


def test_only_the_providers_own_connected_pools_list(retail, make_org, operator):
    user, org = retail["provider"]
    pool_suspend(actor=operator, pool_id=retail["pool"].pk, reason="maintenance")
    assert refusal(lambda: list_(retail)) == ("pool_not_connected", "pool")
    other_user, other = make_org(provider=True)
    with pytest.raises(ExchangeError) as err:
        listing_create(actor=other_user, organisation=other, terms=terms(retail["pool"]))
    assert err.value.code == "not_found"
    buyer_user, buyer = retail["acme"]
    with pytest.raises(ExchangeError) as err:
        listing_create(actor=buyer_user, organisation=buyer, terms=terms(retail["pool"]))
    assert err.value.code == "not_a_provider"


def test_a_listing_and_the_wholesale_book_never_sell_the_same_units(retail):
    """The listing holds 6 of 14; a wholesale ask for next week's window can offer only the 8
    left (the lot is 8), and a second listing cannot take what the ask holds."""
    list_(retail, units=6, available_until=NOW + 30 * 24 * H)
    instrument = instrument_ensure(code=next_week_code())
    user, org = retail["provider"]

    def ask(qty, key):
        terms = OrderTerms(instrument=instrument.code, side="sell", type="limit", qty=qty, tif="GTC",
                           price=instrument.reference_price)  # fmt: skip
        return order_place(actor=user, organisation=org, terms=terms, idempotency_key=key)

    with pytest.raises(ExchangeError) as err:
        ask(16, "ask-16")
    assert err.value.code == "insufficient_capacity"
    ask(8, "ask-8")
    assert refusal(lambda: list_(retail, units=1, available_until=NOW + 30 * 24 * H)) == (
        "insufficient_capacity",
        "units",
    )


def test_withdrawing_gives_back_what_is_not_reserved(retail):
    listing = list_(retail)
    reserve(retail, listing, units=3)
    user, org = retail["provider"]
    withdrawn = listing_withdraw(actor=user, organisation=org, listing_id=listing.pk)
    assert withdrawn.status == ListingStatus.WITHDRAWN
    assert offered_committed(retail["pool"], NOW + H) == (0, 3, 11)
    assert offered_committed(retail["pool"], NOW + 3 * H) == (0, 0, 14)
    assert refusal(lambda: reserve(retail, listing, units=1, key="k2")) == ("listing_closed", "listing")
    # again: nothing changes
    assert listing_withdraw(actor=user, organisation=org, listing_id=listing.pk).withdrawn_at == withdrawn.withdrawn_at


# --- reservations -------------------------------------------------------------------------------


def test_a_per_time_reservation_holds_its_full_charge_and_takes_units_off_the_listing(retail):
    listing = list_(retail, units=10)
    _, acme = retail["acme"]
    before = available_funds(organisation=acme).available
    r = reserve(retail, listing, units=8, start=NOW + H, end=NOW + H + 61 * M)
    assert r.status == ReservationStatus.CONFIRMED
    # §6.1: 21.36 × 8 × 61 / 60 = 173.728 → 173.73
    assert r.hold_amount == Decimal("173.73")
    hold = Hold.objects.get(pk=r.hold_id)
    assert (hold.amount, hold.organisation_id, hold.expires_at) == (
        Decimal("173.73"),
        acme.pk,
        r.end + timedelta(days=62),
    )
    assert available_funds(organisation=acme).available == before - Decimal("173.73")
    # 61 minutes from 11:00 touch the hours 11:00 and 12:00: 8 of the listing's 10 go to the buyer
    for hour in (NOW + H, NOW + 2 * H):
        assert offered_committed(retail["pool"], hour) == (2, 8, 4)
    assert offered_committed(retail["pool"], NOW + 3 * H) == (10, 0, 4)


def test_a_per_volume_reservation_holds_the_peak_priced_maximum(retail):
    listing = list_(retail, billing=Billing.PER_VOLUME, minimum_minutes=30, price=Decimal("12.3457"))
    r = reserve(retail, listing, units=3, start=NOW + H, end=NOW + H + 90 * M)
    # 12.3457 × 3 × 1.5 h × 1.50 = 83.333475 → up to the fen: 83.34
    assert r.hold_amount == Decimal("83.34")
    quote = reservation_quote(listing=listing, units=3, start=r.start, end=r.end)
    assert quote.period_prices == {"peak": Decimal("18.518550"), "flat": Decimal("12.3457"),
                                   "valley": Decimal("6.17285")}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"units": 11}, "insufficient_capacity", "units"),
        ({"end": NOW + H + 59 * M}, "bad_duration", "end"),
        ({"end": NOW + H + 90 * M + timedelta(seconds=30)}, "bad_duration", "end"),
        ({"start": NOW - M}, "start_in_past", "start"),
        ({"start": NOW + 7 * 24 * H - H, "end": NOW + 7 * 24 * H + H}, "outside_availability", "start"),
    ],
)
def test_refused_reservations_say_why_and_leave_no_trace(retail, change, code, field):
    listing = list_(retail, units=10)
    args = {"units": 2, "start": NOW + H, "end": NOW + 3 * H} | change
    assert refusal(lambda: reserve(retail, listing, **args)) == (code, field)
    assert not Reservation.objects.exists()
    assert not Hold.objects.exists()
    assert offered_committed(retail["pool"], NOW + H) == (10, 0, 4)


def test_a_reservation_beyond_the_buyers_funds_is_refused(retail, make_org):
    listing = list_(retail)
    user, poor = make_org(slug="poor")
    with pytest.raises(ExchangeError) as err:
        reservation_place(actor=user, organisation=poor, idempotency_key="p",
                          terms=ReservationTerms(listing.pk, 1, NOW + H, NOW + 2 * H))  # fmt: skip
    assert (err.value.code, list(err.value.fields)) == ("insufficient_funds", ["units"])
    assert offered_committed(retail["pool"], NOW + H) == (8, 0, 6)


def test_closed_listings_and_disconnected_pools_sell_nothing(retail, clock):
    listing = list_(retail, available_until=NOW + 3 * H)
    clock["now"] = NOW + 3 * H
    assert refusal(lambda: reserve(retail, listing, start=NOW + 3 * H, end=NOW + 4 * H)) == (
        "listing_closed",
        "listing",
    )
    clock["now"] = NOW
    pool_suspend(actor=retail["operator"], pool_id=retail["pool"].pk, reason="maintenance")
    assert refusal(lambda: reserve(retail, listing)) == ("pool_not_connected", "listing")
    user, org = retail["provider"]
    with pytest.raises(ExchangeError) as err:
        reservation_place(actor=user, organisation=org, idempotency_key="self",
                          terms=ReservationTerms(listing.pk, 1, NOW + H, NOW + 2 * H))  # fmt: skip
    assert err.value.code == "own_listing"


def test_the_same_key_returns_the_reservation_other_terms_conflict(retail):
    listing = list_(retail)
    first = reserve(retail, listing, units=2)
    assert reserve(retail, listing, units=2).pk == first.pk
    assert Hold.objects.count() == 1
    with pytest.raises(ExchangeError) as err:
        reserve(retail, listing, units=3)
    assert (err.value.code, err.value.status) == ("conflict", 409)


def test_cancelling_before_the_start_costs_nothing(retail, clock):
    listing = list_(retail)
    _, acme = retail["acme"]
    before = available_funds(organisation=acme).available
    r = reserve(retail, listing, units=8, start=NOW + H, end=NOW + 3 * H)
    clock["now"] = NOW + 59 * M
    user, org = retail["acme"]
    cancelled = reservation_cancel(actor=user, organisation=org, reservation_id=r.pk)
    assert (cancelled.status, cancelled.actual_end) == (ReservationStatus.CANCELLED, None)
    hold = Hold.objects.get(pk=r.hold_id)
    assert (hold.status, hold.released, hold.remaining) == ("closed", Decimal("341.76"), Decimal("0.00"))
    assert available_funds(organisation=acme).available == before
    assert offered_committed(retail["pool"], NOW + H) == (8, 0, 6)
    assert not CapacityCommitment.objects.open().filter(kind="committed").exists()
    charge = reservation_charge(reservation_id=r.pk)
    assert (charge.billable_minutes, charge.amount) == (0, Decimal("0.00"))
    # asking again changes nothing
    assert reservation_cancel(actor=user, organisation=org, reservation_id=r.pk).status_changed_at == NOW + 59 * M


def test_cancelling_after_the_start_bills_to_the_minute_with_the_minimum(retail, clock):
    """§13 example 1: 8 units at 21.3600, used 3,601 s, minimum 60 → 61 minutes → 173.73."""
    listing = list_(retail, units=10)
    r = reserve(retail, listing, units=8, start=NOW + H, end=NOW + 4 * H)
    assert r.hold_amount == Decimal("512.64")  # 21.36 × 8 × 3 h
    clock["now"] = NOW + H + timedelta(seconds=3601)
    user, org = retail["acme"]
    cancelled = reservation_cancel(actor=user, organisation=org, reservation_id=r.pk)
    assert cancelled.actual_end == NOW + H + timedelta(seconds=3601)
    hold = Hold.objects.get(pk=r.hold_id)
    assert (hold.status, hold.released, hold.remaining) == ("open", Decimal("338.91"), Decimal("173.73"))
    charge = reservation_charge(reservation_id=r.pk)
    assert (charge.used_seconds, charge.billable_minutes, charge.amount) == (Decimal(3601), 61, Decimal("173.73"))
    # 12:00 stays the buyer's (started), 13:00 on goes back to the listing
    assert offered_committed(retail["pool"], NOW + 2 * H) == (2, 8, 4)
    assert offered_committed(retail["pool"], NOW + 3 * H) == (10, 0, 4)


def test_a_short_use_still_pays_the_minimum(retail, clock):
    listing = list_(retail)
    r = reserve(retail, listing, units=8, start=NOW + H, end=NOW + 3 * H)
    clock["now"] = NOW + H + timedelta(seconds=90)
    user, org = retail["acme"]
    reservation_cancel(actor=user, organisation=org, reservation_id=r.pk)
    assert reservation_charge(reservation_id=r.pk).amount == Decimal("170.88")  # 60 minutes
    assert Hold.objects.get(pk=r.hold_id).remaining == Decimal("170.88")


def test_cancelling_a_per_volume_reservation_keeps_the_ceiling_of_the_time_used(retail, clock):
    listing = list_(retail, billing=Billing.PER_VOLUME, minimum_minutes=30, price=Decimal("20.0000"))
    r = reserve(retail, listing, units=2, start=NOW + H, end=NOW + 3 * H)
    assert r.hold_amount == Decimal("120.00")  # 20 × 2 × 2 h × 1.5
    clock["now"] = NOW + H + 30 * M + timedelta(seconds=1)
    user, org = retail["acme"]
    reservation_cancel(actor=user, organisation=org, reservation_id=r.pk)
    assert Hold.objects.get(pk=r.hold_id).remaining == Decimal("31.00")  # 31 minutes × 2 × 20 × 1.5 / 60
    assert reservation_charge(reservation_id=r.pk) is None  # metered: the invoice rates usage instead


def test_finished_reservations_complete_and_cannot_be_cancelled(retail, clock):
    listing = list_(retail)
    r = reserve(retail, listing, units=1, start=NOW + H, end=NOW + 2 * H)
    clock["now"] = NOW + 2 * H
    user, org = retail["acme"]
    with pytest.raises(ExchangeError) as err:
        reservation_cancel(actor=user, organisation=org, reservation_id=r.pk)
    assert (err.value.code, err.value.status) == ("reservation_finished", 409)
    assert reservations_complete() == 1
    assert reservations_complete() == 0
    r.refresh_from_db()
    assert r.status == ReservationStatus.COMPLETED
    assert Hold.objects.get(pk=r.hold_id).status == "open"  # invoicing captures it
    charge = reservation_charge(reservation_id=r.pk)
    assert (charge.billable_minutes, charge.amount, charge.hold_id) == (60, Decimal("21.36"), r.hold_id)


def test_another_organisation_cannot_cancel(retail):
    listing = list_(retail)
    r = reserve(retail, listing, units=1)
    user, bolt = retail["bolt"]
    with pytest.raises(ExchangeError) as err:
        reservation_cancel(actor=user, organisation=bolt, reservation_id=r.pk)
    assert err.value.code == "not_found"


def test_viewers_and_strangers_neither_reserve_nor_cancel(retail):
    listing = list_(retail)
    r = reserve(retail, listing, units=1)
    _, acme = retail["acme"]
    viewer = UserFactory()
    Membership.objects.create(user=viewer, organisation=acme, role=Membership.Role.VIEWER)
    stranger, _ = retail["bolt"]
    place = ReservationTerms(listing_id=listing.pk, units=1, start=NOW + H, end=NOW + 2 * H)
    for actor in (viewer, stranger, None):
        with pytest.raises(NotAllowed) as err:
            reservation_place(actor=actor, organisation=acme, terms=place, idempotency_key="k2")
        assert (err.value.code, err.value.detail) == (
            "role_required",
            "Only owners, admins and traders reserve capacity.",
        )
        with pytest.raises(NotAllowed) as err:
            reservation_cancel(actor=actor, organisation=acme, reservation_id=r.pk)
        assert err.value.code == "role_required"
    assert Reservation.objects.count() == 1
    assert Reservation.objects.get().status == ReservationStatus.CONFIRMED


def test_usage_lookup_is_the_providers_and_billing_selection_by_start(retail, make_org):
    listing = list_(retail, billing=Billing.PER_VOLUME, minimum_minutes=30)
    r = reserve(retail, listing, units=2, start=NOW + H, end=NOW + 3 * H)
    _, gridco = retail["provider"]
    window = reservation_for_usage(provider=gridco, reservation_id=r.pk)
    assert (window.pool_id, window.meter, window.units, window.start, window.end) == (
        retail["pool"].pk, "gpu_seconds", 2, NOW + H, NOW + 3 * H,
    )  # fmt: skip
    _, stranger = make_org(provider=True)
    assert reservation_for_usage(provider=stranger, reservation_id=r.pk) is None
    assert list(reservations_starting(start=NOW + H, end=NOW + 2 * H)) == [r]
    assert list(reservations_starting(start=NOW + 2 * H, end=NOW + 3 * H)) == []


def test_returned_hours_merge_back_into_the_offer(retail, clock):
    listing = list_(retail, units=10)
    user, org = retail["acme"]
    a = reserve(retail, listing, units=4, start=NOW + H, end=NOW + 2 * H, key="a")
    b = reserve(retail, listing, units=4, start=NOW + 2 * H, end=NOW + 3 * H, key="b")
    reservation_cancel(actor=user, organisation=org, reservation_id=a.pk)
    reservation_cancel(actor=user, organisation=org, reservation_id=b.pk)
    pieces = CapacityCommitment.objects.open().filter(source__startswith=f"listing:{listing.pk}@")
    assert [(p.units, p.start, p.end) for p in pieces] == [(10, NOW, NOW + 7 * 24 * H)]


# --- no overselling, on PostgreSQL ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_buyers_never_oversell_a_listing(make_org, reference_data, operator, fund):
    """20 buyers race for 1 unit each of a listing of 14 (the whole pool): exactly 14 are
    confirmed, the others refused, and the pool ends with nothing offered or sellable."""
    start = (timezone.now() + 2 * H).replace(minute=0, second=0, microsecond=0)
    user, gridco = make_org(provider=True, buyer=False)
    pool = connected_pool(user=user, organisation=gridco, operator=operator, code="race-1", units=14)
    listing = listing_create(actor=user, organisation=gridco, terms=ListingTerms(
        pool_id=pool.pk, resource_class="H100-80G", units=14, price=Decimal("12.00"), billing=Billing.PER_TIME,
        minimum_minutes=60, available_from=start, available_until=start + 24 * H))  # fmt: skip
    buyers = []
    for _ in range(20):
        buyer_user, buyer = make_org()
        fund(buyer, "1000.00")
        buyers.append((buyer_user, buyer))

    def buy(i):
        buyer_user, buyer = buyers[i]
        reservation_place(actor=buyer_user, organisation=buyer, idempotency_key=f"race-{i}",
                          terms=ReservationTerms(listing.pk, 1, start, start + 2 * H))  # fmt: skip

    outcomes = race(20, buy)
    assert outcomes.count("ok") == 14
    assert outcomes.count("insufficient_capacity") == 6
    assert Reservation.objects.filter(status=ReservationStatus.CONFIRMED).count() == 14
    assert Hold.objects.filter(status="open").count() == 14
    rows = capacity_by_hour(pool_ids=[pool.pk], start=start, end=start + 2 * H)
    assert [(r.committed, r.offered, r.sellable) for r in rows] == [(14, 0, 0), (14, 0, 0)]
    assert sellable_units(pool_id=pool.pk, resource_class="H100-80G", start=start, end=start + 24 * H) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reservations_racing_cancellations_and_a_withdrawal_stay_consistent(make_org, reference_data, operator, fund):
    """Buyers reserve and cancel while the provider withdraws: whatever the order, committed +
    offered never exceeds the pool and every confirmed reservation holds its units."""
    start = (timezone.now() + 2 * H).replace(minute=0, second=0, microsecond=0)
    user, gridco = make_org(provider=True, buyer=False)
    pool = connected_pool(user=user, organisation=gridco, operator=operator, code="race-2", units=14)
    listing = listing_create(actor=user, organisation=gridco, terms=ListingTerms(
        pool_id=pool.pk, resource_class="H100-80G", units=14, price=Decimal("12.00"), billing=Billing.PER_TIME,
        minimum_minutes=60, available_from=start, available_until=start + 24 * H))  # fmt: skip
    buyer_user, buyer = make_org()
    fund(buyer, "10000.00")
    first = [
        reservation_place(actor=buyer_user, organisation=buyer, idempotency_key=f"pre-{i}",
                          terms=ReservationTerms(listing_id=listing.pk, units=2, start=start, end=start + H))
        for i in range(4)
    ]  # fmt: skip

    def act(i):
        if i < 4:
            reservation_cancel(actor=buyer_user, organisation=buyer, reservation_id=first[i].pk)
        elif i == 4:
            listing_withdraw(actor=user, organisation=gridco, listing_id=listing.pk)
        else:
            reservation_place(actor=buyer_user, organisation=buyer, idempotency_key=f"new-{i}",
                              terms=ReservationTerms(listing.pk, 2, start, start + H))  # fmt: skip

    race(12, act)
    confirmed = Reservation.objects.filter(status=ReservationStatus.CONFIRMED)
    (row,) = capacity_by_hour(pool_ids=[pool.pk], start=start, end=start + H)
    assert row.committed == sum(r.units for r in confirmed)
    assert row.offered == 0  # withdrawn: nothing is offered any more
    assert row.committed + row.offered + row.sellable == 14


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_listings_and_wholesale_asks_racing_for_one_pool_never_oversell(make_org, reference_data, operator):
    """A pool of 14: six listings of 8 and six sell orders of 8 for next week race; exactly one
    of the twelve gets the units, and offered never exceeds installed in any hour."""
    user, gridco = make_org(provider=True, buyer=False)
    pool = connected_pool(user=user, organisation=gridco, operator=operator, code="race-3", units=14)
    instrument = instrument_ensure(code=next_week_code())
    now = timezone.now()

    def act(i):
        if i % 2:
            terms = OrderTerms(instrument=instrument.code, side="sell", type="limit", qty=8, tif="GTC",
                               price=instrument.reference_price)  # fmt: skip
            order_place(actor=user, organisation=gridco, terms=terms, idempotency_key=f"ask-{i}")
        else:
            listing_create(actor=user, organisation=gridco, terms=ListingTerms(
                pool_id=pool.pk, resource_class="H100-80G", units=8, price=Decimal("12.00"),
                billing=Billing.PER_TIME, minimum_minutes=60, available_from=now,
                available_until=instrument.window_end + H))  # fmt: skip

    outcomes = race(12, act)
    assert outcomes.count("ok") == 1
    assert outcomes.count("insufficient_capacity") == 11
    rows = capacity_by_hour(pool_ids=[pool.pk], start=instrument.window_start, end=instrument.window_end)
    assert {(r.offered, r.sellable) for r in rows} == {(8, 6)}
