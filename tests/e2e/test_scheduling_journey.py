"""Issue 7's scheduling as a new buyer would try it, in a real browser: Acme opens "Schedule for
me" from the navigation, states a demand (12 H100 for 2 hours, within 10 ms of Shanghai), waits
on the demand page while a round places it — the page's 2-second poll shows the proposal without
a reload — reads the placement (two listings split, the far cheap one left out by the latency
ceiling, the saving against the cheapest single listing), confirms it, follows the link to its
reservations and finds them there; then reads the same page in Chinese.

What the periodic task does (a scheduling round) is called from here while the page polls, so no
worker (and no Redis) is needed; everything the buyer does goes through the pages."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from marketplace.models import Billing, Demand, DemandStatus, Reservation
from marketplace.services import ListingTerms, listing_create
from marketplace.services.scheduling import scheduling_round
from settlement.selectors import ledger_check_run
from settlement.services import bank_reference_for, bank_transfer_record
from tests.e2e.steps import sign_in
from tests.marketplace.conftest import connected_pool

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HOURS = 2
LIVE = 15_000  # ms: a poll or two


def local_hour(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def shown(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def network(make_org, reference_data, operator, settings):
    """GridCo lists H100 in three Yangtze River Delta pools (8 at ¥13, 8 at ¥14, 16 at ¥16) and
    WestDC 16 in Inner Mongolia at ¥10.50 (35 ms from Shanghai); Acme has ¥100,000 prepaid."""
    settings.SCHEDULING_DISPATCH = False  # the round is run from here, as the periodic task would
    gridco_user, gridco = make_org(provider=True, buyer=False, slug="gridco", name="GridCo")
    westdc_user, westdc = make_org(provider=True, buyer=False, slug="westdc", name="WestDC")
    acme_user, acme = make_org(slug="acme", name="Acme AI")
    bank_transfer_record(actor=operator, reference=bank_reference_for(organisation=acme).code,
                         amount=Decimal("100000.00"), bank_transaction_id="E1")  # fmt: skip
    now = timezone.now()
    listings = {}
    for name, user, org, region, tier, units, price in (
        ("yrd-a", gridco_user, gridco, "YRD", "MAIN", 8, "13.00"),
        ("yrd-b", gridco_user, gridco, "YRD", "EDGE", 8, "14.00"),
        ("yrd-c", gridco_user, gridco, "YRD", "MAIN", 16, "16.00"),
        ("nmg-a", westdc_user, westdc, "NMG", "REMOTE", 16, "10.50"),
    ):
        pool = connected_pool(user=user, organisation=org, operator=operator, code=name, units=units, region=region,
                              tier=tier)  # fmt: skip
        listings[name] = listing_create(
            actor=user, organisation=org,
            terms=ListingTerms(pool_id=pool.pk, resource_class="H100-80G", units=units, price=Decimal(price),
                               billing=Billing.PER_TIME, minimum_minutes=60, available_from=now,
                               available_until=now + timedelta(days=2)),
        )  # fmt: skip
    yield {"listings": listings, "acme": acme_user}
    report = ledger_check_run(store=False)
    assert report["ok"], report


def fill_demand(page, *, start, finish, city):
    form = page.locator("#demand-form")
    form.locator("select[name=resource_class]").select_option("H100-80G")
    form.locator("input[name=units]").fill("12")
    form.locator("input[name=hours]").fill(str(HOURS))
    form.locator("input[name=earliest_start]").fill(local_hour(start))
    form.locator("input[name=latest_finish]").fill(local_hour(finish))
    form.locator("select[name=city]").select_option(city)
    form.locator("input[name=max_rtt_ms]").fill("10")
    form.locator("input[name=carbon_weight]").fill("0.1")
    form.locator("button[type=submit]").click()


def test_state_a_demand_see_the_placement_confirm_and_find_the_reservations(live_server, page, shoot, network):
    base = live_server.url
    listings = network["listings"]
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    finish = start + timedelta(hours=HOURS)

    # 1. Acme opens "Schedule for me" from the navigation and states what it needs
    sign_in(page, base, email=network["acme"].email)
    page.click("header >> text=Schedule for me")
    expect(page).to_have_url(f"{base}/schedule/")
    expect(page.locator("#demands tbody tr")).to_have_text(["No demands yet."])
    shoot(page, "scheduling-01-form")
    # a first try with a latency ceiling but no city is refused next to the field, and nothing is lost
    fill_demand(page, start=start, finish=finish, city="")
    expect(page.locator("#id_city_error")).to_contain_text("A latency ceiling needs the city core")
    expect(page.locator("input[name=max_rtt_ms]")).to_have_value("10")
    expect(page.locator("input[name=units]")).to_have_value("12")

    def refused_again(other):
        other.goto(f"{base}/schedule/")
        fill_demand(other, start=start, finish=finish, city="")

    shoot(page, "scheduling-02-refused", redo=refused_again, guide_at="#id_city_error")
    assert not Demand.objects.exists()
    page.locator("#demand-form select[name=city]").select_option("SH")
    page.locator("#demand-form button[type=submit]").click()

    # 2. The demand page waits for a round, and shows the proposal when one has run
    expect(page.locator(".messages li")).to_contain_text("submitted: a scheduling round is placing it")
    expect(page.locator("#waiting")).to_be_visible()
    demand = Demand.objects.get()
    assert (demand.units, demand.hours, demand.city, demand.max_rtt_ms) == (12, HOURS, "SH", 10)
    shoot(page, "scheduling-03-waiting")
    assert scheduling_round() is not None
    expect(page.locator("#parts")).to_be_visible(timeout=LIVE)
    expect(page.locator("#demand-status")).to_contain_text("Placement proposed")
    rows = page.locator("#parts tbody tr")
    expect(rows).to_have_count(2)
    a, b = listings["yrd-a"], listings["yrd-b"]
    expect(rows.nth(0).locator("td").nth(0)).to_contain_text(f"Listing #{a.pk}")
    expect(rows.nth(1).locator("td").nth(0)).to_contain_text(f"Listing #{b.pk}")
    expect(rows.locator("td:nth-child(3)")).to_have_text(["8", "4"])
    expect(rows.nth(0).locator("td").nth(3)).to_have_text(f"{shown(start)} – {shown(finish)}")
    expect(rows.locator("td:nth-child(6)")).to_have_text(["¥208.00", "¥112.00"])  # 8 × 2 h × 13, 4 × 2 h × 14
    expect(rows.locator("td:nth-child(10)")).to_have_text(["3 ms", "3 ms"])
    # the cheapest single listing that holds all 12 is yrd-c at ¥16: 12 × 2 × 16 = ¥384, same energy and carbon
    expect(page.locator("#single")).to_contain_text(f"Listing #{listings['yrd-c'].pk}")
    expect(page.locator("#saving")).to_contain_text("you save ¥64.00")
    expect(page.locator(f"text=Listing #{listings['nmg-a'].pk}")).to_have_count(0)  # 35 ms from Shanghai
    shoot(page, "scheduling-04-proposal", guide_at="#parts")

    # 3. Acme confirms; the reservations are placed and linked
    page.click("#confirm")
    expect(page.locator(".messages li")).to_contain_text("Placement confirmed")
    placed = page.locator("#placed li")
    expect(placed).to_have_count(2)
    reservations = list(Reservation.objects.order_by("listing_id"))
    assert [(r.listing_id, r.units, r.start, r.end) for r in reservations] == [
        (a.pk, 8, start, finish), (b.pk, 4, start, finish)
    ]  # fmt: skip
    for r in reservations:
        expect(page.locator("#placed")).to_contain_text(f"Reservation #{r.pk}")
    assert Demand.objects.get().status == DemandStatus.CONFIRMED
    shoot(page, "scheduling-05-confirmed", guide_at="#placed")

    # 4. ... and finds them among its reservations
    placed.first.get_by_role("link", name="My reservations").click()
    expect(page).to_have_url(f"{base}/reservations/")
    table = page.locator("main table tbody tr")
    expect(table).to_have_count(2)
    for r in reservations:
        expect(page.locator("main table tbody")).to_contain_text(str(r.pk))
    expect(table.locator("td:nth-child(4)")).to_have_text(["4", "8"])
    shoot(page, "scheduling-06-reservations")

    # 5. The same demand, read in Chinese
    page.goto(f"{base}/schedule/{demand.pk}/")
    page.select_option("#lang", "zh-hans")
    expect(page.locator("h1")).to_contain_text("需求")
    expect(page.locator("#demand-status")).to_contain_text("已确认")
    expect(page.locator("#placed")).to_contain_text("我的预订")
