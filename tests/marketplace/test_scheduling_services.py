"""Scheduling through the services (trading standard §10): a demand's every field checked with a
reason code (nothing stored), idempotency, the problem a round builds from listings and asks
(free units net of reservations), every constraint kept end to end, confirmation placed whole or
not at all, pro rata fairness with a priority class first, cancelling."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.models import AuditEvent
from catalog.models import Region
from config.errors import Conflict, ExchangeError
from marketplace.models import (
    Demand,
    DemandStatus,
    Order,
    OrderStatus,
    Proposal,
    ProposalStatus,
    Reservation,
    SchedulingRound,
    TimeInForce,
)
from marketplace.services import OrderTerms, ReservationTerms, instrument_ensure, order_place, reservation_place
from marketplace.services.scheduling import demand_cancel, problem_build, proposal_confirm, scheduling_round
from settlement.models import Hold
from settlement.services import available_funds
from tests.marketplace.conftest import next_week_code
from tests.marketplace.scheduling_setup import NEXT, NOW, H, list_on, submit, terms

pytestmark = pytest.mark.django_db


# --- submission ----------------------------------------------------------------------------------

INVALID = [
    ({"resource_class": "Z80"}, "resource_class", "unknown_class"),
    ({"min_scu": Decimal("1000")}, "resource_class", "class_or_scu"),
    ({"resource_class": None, "units": None}, "resource_class", "class_or_scu"),
    ({"resource_class": None, "units": None, "min_scu": Decimal("0")}, "min_scu", "min_value"),
    ({"units": 0}, "units", "min_value"),
    ({"hours": 0}, "hours", "min_value"),
    ({"hours": 745, "latest_finish": NEXT + 800 * H}, "hours", "max_value"),
    ({"earliest_start": NEXT + timedelta(minutes=30)}, "earliest_start", "not_on_hour"),
    ({"latest_finish": NEXT + 24 * H + timedelta(minutes=1)}, "latest_finish", "not_on_hour"),
    ({"earliest_start": NOW - H, "latest_finish": NOW + 24 * H}, "earliest_start", "start_in_past"),
    ({"latest_finish": NEXT + 3 * H}, "latest_finish", "window_too_short"),
    ({"latest_finish": NOW + timedelta(days=63)}, "latest_finish", "window_too_far"),
    ({"city": "XX"}, "city", "unknown_city"),
    ({"max_rtt_ms": 10}, "city", "city_required"),
    ({"city": "SH", "max_rtt_ms": -1}, "max_rtt_ms", "min_value"),
    ({"city": "SH", "max_rtt_ms": 10**12}, "max_rtt_ms", "max_value"),
    ({"regions": ("YRD", "MARS")}, "regions", "unknown_region"),
    ({"residency": "MARS"}, "residency", "unknown_region"),
    ({"regions": ("NMG",), "residency": "YRD"}, "residency", "residency_not_allowed"),
    ({"carbon_weight": Decimal("-0.01")}, "carbon_weight", "min_value"),
    ({"max_price": Decimal("0")}, "max_price", "min_value"),
]


@pytest.mark.parametrize(("overrides", "field", "code"), INVALID)
def test_submit_refuses_each_bad_field_and_stores_nothing(sched, overrides, field, code):
    with pytest.raises(ExchangeError) as refused:
        submit(sched, **overrides)
    assert code in [p["code"] for p in refused.value.fields[field]]
    assert Demand.objects.count() == 0


def test_submit_reports_every_bad_field_at_once(sched):
    with pytest.raises(ExchangeError) as refused:
        submit(sched, units=0, city="XX", max_price=Decimal("-1"))
    assert {f: [p["code"] for p in v] for f, v in refused.value.fields.items()} == {
        "units": ["min_value"], "city": ["unknown_city"], "max_price": ["min_value"]
    }  # fmt: skip


def test_submit_is_idempotent_by_key(sched):
    first = submit(sched, key="k")
    again = submit(sched, key="k")
    assert again.pk == first.pk and Demand.objects.count() == 1
    assert first.status == DemandStatus.SUBMITTED and first.units == 8 and first.resource_class_id == "H100-80G"
    with pytest.raises(Conflict):
        submit(sched, key="k", units=16)
    other = submit(sched, who="bolt", key="k")  # keys are per organisation
    assert other.pk != first.pk


def test_a_viewer_cannot_state_a_demand(sched, make_org):
    from accounts.models import Membership
    from config.errors import NotAllowed
    from marketplace.services.scheduling import demand_submit

    viewer, _ = make_org(user=None, slug="v")
    Membership.objects.create(user=viewer, organisation=sched["orgs"]["acme"], role=Membership.Role.VIEWER)
    with pytest.raises(NotAllowed):
        demand_submit(actor=viewer, organisation=sched["orgs"]["acme"], terms=terms(), idempotency_key="x")
    assert Demand.objects.count() == 0


# --- the problem a round builds ------------------------------------------------------------------


def test_the_problem_holds_listings_net_of_reservations_and_asks_per_price_level(sched, sched_clock):
    listing = list_on(sched, "yrd", price="12.5000", units=8, start=NOW, hours=10)
    reservation_place(
        actor=sched["users"]["bolt"], organisation=sched["orgs"]["bolt"], idempotency_key="r",
        terms=ReservationTerms(listing_id=listing.pk, units=3, start=NOW + 2 * H, end=NOW + 4 * H),
    )  # fmt: skip
    instrument = instrument_ensure(code=next_week_code())
    gridco, user = sched["orgs"]["gridco"], sched["users"]["gridco"]
    for i, (price, qty) in enumerate([("13.00", 8), ("13.00", 8), ("14.00", 16)]):
        order_place(actor=user, organisation=gridco, idempotency_key=f"s{i}",
                    terms=OrderTerms(instrument=instrument.code, side="sell", type="limit", qty=qty, tif="GTC",
                                     price=Decimal(price)))  # fmt: skip
    demand = submit(sched, latest_finish=instrument.window_end)
    problem, meta = problem_build(demands=[demand], now=NOW)
    assert problem.horizon_start == NEXT
    assert problem.hours == (instrument.window_end - NEXT) / H
    offers = {o.key: o for o in problem.offers}
    assert sorted(offers) == sorted(
        [f"listing:{listing.pk}", f"ask:{instrument.pk}:13.0000", f"ask:{instrument.pk}:14.0000"]
    )
    retail = offers[f"listing:{listing.pk}"]
    # horizon hour 0 is NOW+1h; the reservation took 3 of 8 in NOW+2h..NOW+4h; the listing ends at NOW+10h
    assert retail.free[:10] == (8, 5, 5, 8, 8, 8, 8, 8, 8, 0) and not any(retail.free[10:])
    yrd = Region.objects.get(pk="YRD")
    assert (retail.region, retail.tier, retail.resource_class, retail.price, retail.billing, retail.lot) == (
        "YRD", "MAIN", "H100-80G", Decimal("12.5000"), "per_time", 1
    )  # fmt: skip
    assert retail.rtt_ms == {"BJ": 25, "SH": 3, "GZ": 20, "CD": 30} and retail.residency is True
    assert (retail.pue, retail.green_share) == (Decimal("1.25"), Decimal("0.350"))
    assert retail.power_price == yrd.flat_price_per_kwh
    assert retail.tflops == Decimal("989") and retail.power_kw == Decimal("1.275")
    ask = offers[f"ask:{instrument.pk}:13.0000"]
    assert ask.kind == "wholesale" and ask.window == (instrument.window_start, instrument.window_end)
    assert ask.lot == 8 and ask.residency is False and ask.price == Decimal("13.0000")
    inside = [ask.free[i] for i in range(problem.hours) if NEXT + i * H >= instrument.window_start]
    outside = [ask.free[i] for i in range(problem.hours) if NEXT + i * H < instrument.window_start]
    assert set(inside) == {16} and set(outside) == {0}  # the two 8s at 13.00 summed into one level
    assert offers[f"ask:{instrument.pk}:14.0000"].free[-1] == 16
    assert problem.tou_multipliers == {"peak": Decimal("1.5"), "flat": Decimal("1"), "valley": Decimal("0.5")}
    assert meta[f"listing:{listing.pk}"]["listing"] == listing


# --- constraints, end to end ---------------------------------------------------------------------


def _proposal(demand) -> Proposal:
    return Proposal.objects.get(demand=demand, status=ProposalStatus.OPEN)


def test_each_constraint_steers_the_placement_away_from_the_cheapest_offer(sched):
    cheap_far = list_on(sched, "nmg", price="11.0000", units=16)  # NMG: 35 ms to Shanghai, no residency
    open_yrd = list_on(sched, "yrd_open", price="13.0000", units=16)  # YRD, no residency guarantee
    resident = list_on(sched, "yrd", price="15.0000", units=16)  # YRD, data stays
    late = list_on(sched, "nmg", price="10.5000", units=16, start=NOW + 48 * H, hours=24)  # only after the window
    d_free = submit(sched, key="free")
    d_latency = submit(sched, key="latency", who="bolt", city="SH", max_rtt_ms=10)
    scheduling_round()
    assert {p.listing_id for p in _proposal(d_free).parts.all()} == {cheap_far.pk}
    assert {p.listing_id for p in _proposal(d_latency).parts.all()} == {open_yrd.pk}
    for key, extra, expected in [
        ("residency", {"residency": "YRD"}, resident),
        ("regions", {"regions": ("YRD",)}, open_yrd),
        ("price", {"max_price": Decimal("12.9999")}, cheap_far),
        ("window", {"earliest_start": NOW + 50 * H, "latest_finish": NOW + 60 * H}, late),
    ]:
        Proposal.objects.filter(status=ProposalStatus.OPEN).update(status=ProposalStatus.CANCELLED)
        Demand.objects.filter(status=DemandStatus.PROPOSED).update(status=DemandStatus.CANCELLED)
        demand = submit(sched, key=key, **extra)
        scheduling_round()
        assert {p.listing_id for p in _proposal(demand).parts.all()} == {expected.pk}, key
    d = submit(sched, key="nothing", max_price=Decimal("10.0000"))
    scheduling_round()
    d.refresh_from_db()
    assert d.status == DemandStatus.UNPLACEABLE and "No offer" in d.reason


def _respects(demand: Demand, proposal: Proposal) -> list[str]:
    """Every constraint of the demand, checked on the stored parts against the database's facts."""
    broken = []
    parts = list(proposal.parts.select_related("pool", "region", "listing"))
    starts = {p.start for p in parts}
    if len(starts) != 1:
        broken.append("parts start apart")
    for p in parts:
        if p.start < demand.earliest_start or p.end > demand.latest_finish or p.end - p.start != demand.hours * H:
            broken.append(f"window {p}")
        if demand.max_rtt_ms is not None and p.region.rtt_ms[demand.city] > demand.max_rtt_ms:
            broken.append(f"latency {p}")
        if demand.regions and p.region_id not in demand.regions:
            broken.append(f"region {p}")
        if demand.residency_id and (p.region_id != demand.residency_id or not p.pool.data_residency):
            broken.append(f"residency {p}")
        if demand.max_price is not None and p.price > demand.max_price:
            broken.append(f"price {p}")
        if demand.resource_class_id and p.resource_class_id != demand.resource_class_id:
            broken.append(f"class {p}")
    if demand.resource_class_id and sum(p.units for p in parts) > demand.units:
        broken.append("too many units")
    return broken


def test_no_constraint_is_ever_broken_over_many_random_demands(sched, sched_clock):
    rng = random.Random(7)
    for pool, price in [("nmg", "11.0000"), ("yrd_open", "13.0000"), ("yrd", "15.0000"), ("nmg", "10.2000")]:
        list_on(sched, pool, price=price, units=rng.choice([4, 8, 16]), start=NOW + rng.randrange(0, 12) * H, hours=60)
    demands = []
    for i in range(24):
        start = NEXT + rng.randrange(0, 24) * H
        hours = rng.randrange(1, 8)
        extra = {
            "units": rng.choice([1, 2, 4, 8, 12]),
            "hours": hours,
            "earliest_start": start,
            "latest_finish": start + (hours + rng.randrange(0, 12)) * H,
            "carbon_weight": Decimal(rng.choice(["0", "0.1", "2"])),
        }
        if rng.random() < 0.4:
            extra |= {"city": rng.choice(["SH", "BJ"]), "max_rtt_ms": rng.choice([5, 15, 40])}
        if rng.random() < 0.3:
            extra["regions"] = tuple(rng.sample(["YRD", "NMG", "JJJ"], 2))
        if rng.random() < 0.3:
            extra["residency"] = "YRD"
            extra["regions"] = ()
        if rng.random() < 0.3:
            extra["max_price"] = Decimal(rng.choice(["11.5", "13", "20"]))
        demands.append(submit(sched, who=rng.choice(["acme", "bolt"]), key=f"r{i}", **extra))
    record = scheduling_round()
    assert record.demands == 24 and record.placed >= 1
    proposed = 0
    for demand in demands:
        demand.refresh_from_db()
        if demand.status == DemandStatus.PROPOSED:
            proposed += 1
            assert _respects(demand, _proposal(demand)) == [], demand
        elif demand.status == DemandStatus.SUBMITTED:  # others came first: it waits for the next round
            assert "other demands came first" in demand.reason
        else:
            assert demand.status == DemandStatus.UNPLACEABLE
    assert proposed == record.placed
    # and no offer's free units are oversold in any hour by the proposals together
    used: dict[tuple, int] = {}
    for proposal in Proposal.objects.filter(status=ProposalStatus.OPEN).prefetch_related("parts"):
        for p in proposal.parts.all():
            hour = p.start
            while hour < p.end:
                used[(p.listing_id, hour)] = used.get((p.listing_id, hour), 0) + p.units
                hour += H
    from marketplace.models import Listing

    units = dict(Listing.objects.values_list("pk", "units"))
    assert all(n <= units[listing] for (listing, _), n in used.items())


# --- confirmation --------------------------------------------------------------------------------


def test_confirm_places_the_reservations_and_the_demand_is_confirmed(sched):
    a = list_on(sched, "nmg", price="11.0000", units=8)
    b = list_on(sched, "yrd_open", price="13.0000", units=8)
    demand = submit(sched, units=12, latest_finish=NEXT + 4 * H)  # no room to move to cheaper hours
    scheduling_round()
    proposal = _proposal(demand)
    assert sorted((p.listing_id, p.units) for p in proposal.parts.all()) == [(a.pk, 8), (b.pk, 4)]
    before = available_funds(organisation=sched["orgs"]["acme"]).available
    proposal_confirm(actor=sched["users"]["acme"], organisation=sched["orgs"]["acme"], demand_id=demand.pk)
    demand.refresh_from_db()
    proposal.refresh_from_db()
    assert demand.status == DemandStatus.CONFIRMED and proposal.status == ProposalStatus.CONFIRMED
    reservations = Reservation.objects.filter(buyer=sched["orgs"]["acme"]).order_by("listing_id")
    assert [(r.listing_id, r.units, r.start, r.end) for r in reservations] == [
        (a.pk, 8, NEXT, NEXT + 4 * H), (b.pk, 4, NEXT, NEXT + 4 * H)
    ]  # fmt: skip
    held = Decimal("11.0000") * 8 * 4 + Decimal("13.0000") * 4 * 4
    assert sum(r.hold_amount for r in reservations) == held == proposal.price_cost
    assert before - available_funds(organisation=sched["orgs"]["acme"]).available == held
    assert {p.reservation_id for p in proposal.parts.all()} == {r.pk for r in reservations}
    # confirming again changes nothing
    proposal_confirm(actor=sched["users"]["acme"], organisation=sched["orgs"]["acme"], demand_id=demand.pk)
    assert Reservation.objects.filter(buyer=sched["orgs"]["acme"]).count() == 2


def test_a_part_refused_places_nothing_and_the_demand_goes_back(sched):
    list_on(sched, "nmg", price="11.0000", units=8)
    b = list_on(sched, "yrd_open", price="13.0000", units=8)
    demand = submit(sched, units=12, latest_finish=NEXT + 4 * H)  # no room to move to cheaper hours
    scheduling_round()
    # meanwhile Bolt reserves the second listing's units for those hours
    reservation_place(
        actor=sched["users"]["bolt"], organisation=sched["orgs"]["bolt"], idempotency_key="r",
        terms=ReservationTerms(listing_id=b.pk, units=6, start=NEXT, end=NEXT + 4 * H),
    )  # fmt: skip
    holds_before = Hold.objects.filter(organisation=sched["orgs"]["acme"]).count()
    funds_before = available_funds(organisation=sched["orgs"]["acme"]).available
    with pytest.raises(ExchangeError) as refused:
        proposal_confirm(actor=sched["users"]["acme"], organisation=sched["orgs"]["acme"], demand_id=demand.pk)
    assert refused.value.status == 409 and refused.value.fields["proposal"][0]["code"] == "insufficient_capacity"
    assert Reservation.objects.filter(buyer=sched["orgs"]["acme"]).count() == 0  # the first part too
    assert Hold.objects.filter(organisation=sched["orgs"]["acme"]).count() == holds_before
    assert available_funds(organisation=sched["orgs"]["acme"]).available == funds_before
    demand.refresh_from_db()
    assert demand.status == DemandStatus.SUBMITTED and "listing" in demand.reason
    assert Proposal.objects.get(demand=demand).status == ProposalStatus.REFUSED
    # the next round proposes what is left
    scheduling_round()
    demand.refresh_from_db()
    assert demand.status == DemandStatus.PROPOSED


def test_a_wholesale_part_becomes_an_ioc_buy_and_a_refused_order_rolls_back_the_reservation(sched, sched_clock):
    instrument = instrument_ensure(code=next_week_code())
    gridco, user = sched["orgs"]["gridco"], sched["users"]["gridco"]
    order_place(actor=user, organisation=gridco, idempotency_key="s",
                terms=OrderTerms(instrument=instrument.code, side="sell", type="limit", qty=8, tif="GTC",
                                 price=Decimal("12.00")))  # fmt: skip
    listing = list_on(sched, "nmg", price="30.0000", units=8, start=instrument.window_start, hours=24)
    window = {"earliest_start": instrument.window_start, "latest_finish": instrument.window_start + 24 * H}
    demand = submit(sched, units=16, hours=24, **window)
    scheduling_round()
    parts = {p.kind: p for p in _proposal(demand).parts.all()}
    assert parts["wholesale"].units == 8 and parts["wholesale"].price == Decimal("12.0000")
    assert parts["retail"].listing_id == listing.pk and parts["retail"].units == 8
    # too little money for both: the order (placed after the reservation) is refused, and nothing stands
    acme = sched["orgs"]["acme"]
    need = Decimal("30") * 8 * 24  # the reservation's hold: 5,760.00; the order's ≥ 12 × 8 × 168 = 16,128
    spare = available_funds(organisation=acme).available - need - Decimal("100")
    from settlement.services import hold_place

    hold_place(idempotency_key="block", organisation=acme, amount=spare, reference="test", expires_at=NOW + 999 * H)
    with pytest.raises(ExchangeError) as refused:
        proposal_confirm(actor=sched["users"]["acme"], organisation=acme, demand_id=demand.pk)
    assert refused.value.fields["proposal"][0]["code"] == "insufficient_funds"
    assert not Reservation.objects.filter(buyer=acme).exists()
    assert not Order.objects.filter(organisation=acme).exists()
    assert available_funds(organisation=acme).available == Decimal("100") + need
    # with the money back, the next proposal confirms: a reservation and an IOC limit buy at the ask
    sched["fund"](acme, "50000.00")
    scheduling_round()
    proposal_confirm(actor=sched["users"]["acme"], organisation=acme, demand_id=demand.pk)
    order = Order.objects.get(organisation=acme)
    assert (order.side, order.type, order.tif, order.qty, order.price, order.status) == (
        "buy", "limit", TimeInForce.IOC, 8, Decimal("12.0000"), OrderStatus.PENDING
    )  # fmt: skip
    assert Reservation.objects.get(buyer=acme).listing_id == listing.pk


def test_an_expired_proposal_is_refused_and_lapses(sched, sched_clock):
    list_on(sched, "nmg", units=8)
    demand = submit(sched)
    scheduling_round()
    sched_clock["now"] = NOW + timedelta(minutes=11)
    with pytest.raises(ExchangeError) as refused:
        proposal_confirm(actor=sched["users"]["acme"], organisation=sched["orgs"]["acme"], demand_id=demand.pk)
    assert refused.value.fields["proposal"][0]["code"] == "proposal_expired"
    demand.refresh_from_db()
    assert demand.status == DemandStatus.SUBMITTED and not Reservation.objects.exists()


# --- fairness ------------------------------------------------------------------------------------


def test_short_supply_is_shared_pro_rata_to_requested_units(sched):
    list_on(sched, "nmg", units=12)
    tight = {"latest_finish": NEXT + 4 * H}  # both must run in the same four hours
    acme = submit(sched, key="a", units=16, **tight)
    bolt = submit(sched, key="b", who="bolt", units=8, **tight)
    record = scheduling_round()
    assert record.placed == 2
    a, b = _proposal(acme), _proposal(bolt)
    # 12 units for 24 requested: half each, 8 and 4
    assert (a.requested, a.placed, b.requested, b.placed) == (16, 8, 8, 4)
    assert sum(p.units for p in a.parts.all()) == 8 and sum(p.units for p in b.parts.all()) == 4


def test_a_priority_organisation_is_served_first(sched):
    list_on(sched, "nmg", units=12)
    bolt_org = sched["orgs"]["bolt"]
    bolt_org.scheduling_priority = 1
    bolt_org.save(update_fields=["scheduling_priority"])
    tight = {"latest_finish": NEXT + 4 * H}  # both must run in the same four hours
    acme = submit(sched, key="a", units=16, **tight)
    bolt = submit(sched, key="b", who="bolt", units=8, **tight)
    scheduling_round()
    assert _proposal(bolt).placed == 8
    assert _proposal(acme).placed == 4


def test_a_demand_left_out_by_a_priority_class_waits_for_the_next_round(sched):
    list_on(sched, "nmg", units=8)
    bolt_org = sched["orgs"]["bolt"]
    bolt_org.scheduling_priority = 2
    bolt_org.save(update_fields=["scheduling_priority"])
    tight = {"latest_finish": NEXT + 4 * H}
    acme = submit(sched, key="a", units=8, **tight)
    bolt = submit(sched, key="b", who="bolt", units=8, **tight)
    scheduling_round()
    acme.refresh_from_db()
    assert _proposal(bolt).placed == 8
    assert acme.status == DemandStatus.SUBMITTED and "other demands came first" in acme.reason
    assert not Proposal.objects.filter(demand=acme).exists()


def test_the_operator_sets_a_priority_class_in_the_admin_and_it_is_audited(sched, client):
    from tests.conftest import sign_in

    sched["operator"].is_staff = sched["operator"].is_superuser = True
    sched["operator"].save()
    sign_in(client, sched["operator"])
    org = sched["orgs"]["acme"]
    page = client.get(f"/admin/accounts/organisation/{org.pk}/change/")
    assert page.status_code == 200 and "scheduling_priority" in page.content.decode()
    data = {"name": org.name, "slug": org.slug, "is_buyer": "on", "credit_limit": "0", "stripe_account_id": "",
            "scheduling_priority": "2", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}  # fmt: skip
    r = client.post(f"/admin/accounts/organisation/{org.pk}/change/", data)
    assert r.status_code == 302, r.content.decode()[:3000]
    org.refresh_from_db()
    assert org.scheduling_priority == 2
    event = AuditEvent.objects.filter(action="admin.organisation.change").latest("at")
    assert "scheduling_priority" in event.detail["fields"]


# --- cancelling ----------------------------------------------------------------------------------


def test_cancel_a_proposed_demand_and_its_proposal(sched):
    list_on(sched, "nmg", units=8)
    demand = submit(sched)
    scheduling_round()
    demand_cancel(actor=sched["users"]["acme"], organisation=sched["orgs"]["acme"], demand_id=demand.pk)
    demand.refresh_from_db()
    assert demand.status == DemandStatus.CANCELLED
    assert Proposal.objects.get(demand=demand).status == ProposalStatus.CANCELLED
    demand_cancel(actor=sched["users"]["acme"], organisation=sched["orgs"]["acme"], demand_id=demand.pk)  # again: same
    with pytest.raises(ExchangeError) as refused:
        proposal_confirm(actor=sched["users"]["acme"], organisation=sched["orgs"]["acme"], demand_id=demand.pk)
    assert refused.value.code == "not_proposed"
    with pytest.raises(ExchangeError) as other:
        demand_cancel(actor=sched["users"]["bolt"], organisation=sched["orgs"]["bolt"], demand_id=demand.pk)
    assert other.value.status == 404


def test_a_round_records_itself_and_expires_demands_whose_window_passed(sched, sched_clock):
    list_on(sched, "nmg", units=8)
    stale = submit(sched, key="stale", latest_finish=NEXT + 5 * H)
    fresh = submit(sched, key="fresh", latest_finish=NOW + 8 * H)
    sched_clock["now"] = NOW + 3 * H
    record = scheduling_round()
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == DemandStatus.EXPIRED and fresh.status == DemandStatus.PROPOSED
    assert SchedulingRound.objects.count() == 1 and record.demands == 1 and record.placed == 1
    assert record.method in ("milp", "greedy") and record.horizon_start == NOW + 4 * H
    assert _proposal(fresh).parts.get().start == NOW + 4 * H
    assert scheduling_round() is None  # nothing waits


def test_a_minimum_scu_demand_is_met_in_tflops_on_any_gpu_class(sched):
    list_on(sched, "nmg", units=8)  # H100: 989 TFLOPS a unit
    demand = submit(sched, resource_class=None, units=None, min_scu=Decimal("2000"))
    assert (demand.units, demand.min_scu, demand.resource_class_id) == (0, Decimal("2000"), None)
    scheduling_round()
    proposal = _proposal(demand)
    units = sum(p.units for p in proposal.parts.all())
    assert units == 3, units  # the fewest that cover it: 3 × 989 = 2,967 SCU
    assert proposal.placed >= 2000
    assert proposal.requested == Decimal("2000")


def test_the_admin_shows_rounds_and_proposals_read_only(sched, client):
    from tests.conftest import sign_in

    list_on(sched, "nmg", units=8)
    demand = submit(sched)
    record = scheduling_round()
    sched["operator"].is_staff = sched["operator"].is_superuser = True
    sched["operator"].save()
    sign_in(client, sched["operator"])
    assert client.get(f"/admin/marketplace/schedulinground/{record.pk}/change/").status_code == 200
    page = client.get(f"/admin/marketplace/proposal/{_proposal(demand).pk}/change/")
    assert page.status_code == 200 and "listing:" in page.content.decode()
    assert client.post(f"/admin/marketplace/demand/{demand.pk}/delete/").status_code == 403


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_confirmations_racing_for_the_same_units_oversell_nothing(sched, make_org):
    """Six buyers' demands, proposed in six rounds, all count on the same 8 free units (a proposal
    holds nothing); they confirm at once: two are placed, four refused whole and sent back, and
    the listing ends with nothing free in those hours; a demand confirmed twice at once is placed
    once."""
    from catalog.services import standing_free
    from tests.concurrency import race

    listing = list_on(sched, "nmg", units=8)
    buyers = []
    for i in range(6):
        user, org = make_org(slug=f"buyer-{i}")
        sched["fund"](org, "10000.00")
        buyers.append((user, org))
    demands = []
    from marketplace.services.scheduling import demand_submit

    for user, org in buyers:
        demands.append(demand_submit(actor=user, organisation=org, idempotency_key="d",
                                     terms=terms(units=4, latest_finish=NEXT + 4 * H)))  # fmt: skip
        scheduling_round()
    assert all(_proposal(d).placed == 4 for d in demands)

    def confirm(i):
        user, org = buyers[i]
        proposal_confirm(actor=user, organisation=org, demand_id=demands[i].pk)

    outcomes = race(6, confirm)
    assert sorted(outcomes) == ["insufficient_capacity"] * 4 + ["ok"] * 2
    assert Reservation.objects.count() == 2
    assert Hold.objects.filter(status="open", reference__startswith="reservation").count() == 2
    statuses = sorted(Demand.objects.values_list("status", flat=True))
    assert statuses == [DemandStatus.CONFIRMED] * 2 + [DemandStatus.SUBMITTED] * 4
    assert standing_free(prefix=listing.capacity_prefix, start=NEXT, end=NEXT + 4 * H) == 0

    # the same demand confirmed twice at once: one reservation
    list_on(sched, "nmg", units=4)
    waiting = Demand.objects.filter(status=DemandStatus.SUBMITTED).select_related("organisation").first()
    org = waiting.organisation
    user = next(u for u, o in buyers if o == org)
    scheduling_round()
    assert Demand.objects.get(pk=waiting.pk).status == DemandStatus.PROPOSED
    assert race(2, lambda i: proposal_confirm(actor=user, organisation=org, demand_id=waiting.pk)) == ["ok", "ok"]
    assert Reservation.objects.filter(buyer=org).count() == 1


def test_free_units_per_hour_of_many_listings_at_once(sched):
    """A round reads every listing's free hours in one query (by their common stem past 20)."""
    from catalog.services import standing_free_by_hour

    listings = [list_on(sched, "yrd", units=1, start=NOW + (i % 3) * H, hours=5) for i in range(24)]
    reservation_place(
        actor=sched["users"]["bolt"], organisation=sched["orgs"]["bolt"], idempotency_key="r",
        terms=ReservationTerms(listing_id=listings[5].pk, units=1, start=NOW + 3 * H, end=NOW + 4 * H),
    )  # fmt: skip
    for chosen in (listings[:3] + listings[5:6], listings):  # 4 prefixes, then 24
        free = standing_free_by_hour(prefixes=[x.capacity_prefix for x in chosen], start=NOW, end=NOW + 8 * H)
        assert set(free) == {x.capacity_prefix for x in chosen}
        for i, listing in enumerate(listings):
            if listing.capacity_prefix not in free:
                continue
            offset = i % 3
            expected = [1 if offset <= h < offset + 5 else 0 for h in range(8)]
            if i == 5:
                expected[3] = 0
            assert free[listing.capacity_prefix] == expected, i


def test_a_submitted_demand_asks_for_a_round_once_it_commits(sched, settings, django_capture_on_commit_callbacks):
    """The buyer sees a proposal within seconds: the demand's commit sends the round task (run
    here in process, as an eager task, instead of through the broker)."""
    from config.celery import app

    list_on(sched, "nmg", units=8)
    settings.SCHEDULING_DISPATCH = True
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True) as sent:
            demand = submit(sched)
    finally:
        app.conf.task_always_eager = False
    assert len(sent) == 1
    demand.refresh_from_db()
    assert demand.status == DemandStatus.PROPOSED and SchedulingRound.objects.count() == 1


def test_a_provider_that_also_buys_is_never_proposed_its_own_listing(sched):
    gridco = sched["orgs"]["gridco"]
    gridco.is_buyer = True
    gridco.save(update_fields=["is_buyer"])
    sched["fund"](gridco, "100000.00")
    own = list_on(sched, "yrd_open", price="11.0000", units=8)  # GridCo's, the cheapest
    other = list_on(sched, "nmg", price="13.0000", units=8)  # WestDC's
    mine = submit(sched, who="gridco", key="g1", latest_finish=NEXT + 4 * H)
    theirs = submit(sched, who="acme", key="a1", units=8, latest_finish=NEXT + 4 * H)
    scheduling_round()
    assert {p.listing_id for p in _proposal(mine).parts.all()} == {other.pk}
    assert {p.listing_id for p in _proposal(theirs).parts.all()} == {own.pk}
