"""The shelf (货架) as a new buyer meets it, in a real browser: a visitor browses every product,
filters and sorts them (the state is in the URL), opens a retail product, signs in from the
product page and comes back to it, asks for a quote (exact, nothing stored) and confirms it; then
sees the shelf and a wholesale product's book in Chinese. Screenshots of the shelf and the
product pages in both languages go to test-artifacts/screenshots/ (CI keeps them)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from marketplace.models import Reservation
from marketplace.services import books_forget
from settlement.models import Hold
from tests.conftest import PASSWORD
from tests.marketplace.conftest import RT_CPU, RT_TIME, RT_VOLUME, WH_JJJ, WH_YRD, build_shop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def market(make_org, reference_data, operator, fund):
    books_forget()
    yield build_shop(make_org=make_org, operator=operator, fund=fund)
    books_forget()


def cards(page):
    return page.locator("article.product")


def local_minute(moment):
    from django.utils import timezone

    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_browse_filter_quote_and_reserve_from_the_shelf(live_server, page, screenshots, market):
    base = live_server.url
    listing = market["listings"]["per_time"]

    # 1. A visitor follows the home page's call to action to the shelf: five products
    page.goto(f"{base}/")
    page.click("#cta-shelf")
    expect(page).to_have_url(f"{base}/shelf/")
    expect(cards(page)).to_have_count(5)
    expect(page.locator("#shelf-count")).to_contain_text("5 products of 5")
    yrd = page.locator(f"article[data-product='{WH_YRD}']")
    expect(yrd.locator("dd.price strong")).to_have_text("¥12.0000")
    expect(yrd.locator("dd.scu")).to_have_text("¥0.012133")
    expect(yrd.locator("dd.available")).to_have_text("16 units")
    expect(yrd.locator("dd.latency")).to_have_text("25 ms")
    expect(yrd.locator("dd.green")).to_have_text("50.0 %")
    expect(page.locator(f"article[data-product='{WH_JJJ}'] dd.price")).to_contain_text("(no asks on the book)")
    page.screenshot(path=screenshots / "shelf-1-en.png", full_page=True)

    # 2. Retail, available now, nearest Shanghai, cheapest first: the URL keeps it all
    page.select_option("select[name=city]", "SH")
    page.select_option("select[name=mode]", "retail")
    page.check("input[name=available]")
    page.fill("input[name=max_latency]", "10")
    page.select_option("select[name=sort]", "price")
    page.click("#shelf-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"/shelf/\?.*city=SH.*mode=retail.*max_latency=10.*available=on.*sort=price"))
    expect(cards(page)).to_have_count(2)
    expect(cards(page).nth(0)).to_have_attribute("data-product", RT_TIME)
    expect(cards(page).nth(1)).to_have_attribute("data-product", RT_VOLUME)
    expect(page.locator(f"article[data-product='{RT_TIME}'] dd.latency")).to_have_text("3 ms")
    expect(page.locator(f"article[data-product='{RT_TIME}'] dd.available")).to_have_text("5 units")
    shared = page.url
    page.screenshot(path=screenshots / "shelf-2-en-filtered.png", full_page=True)
    # a bad value is said, and left out: the rest of the filters still apply (JJJ's vCPU is back)
    page.goto(shared.replace("max_latency=10", "max_latency=fast"))
    expect(page.locator("#shelf-filters .errors")).to_contain_text("Max latency (ms)")
    expect(cards(page)).to_have_count(3)
    expect(cards(page).nth(0)).to_have_attribute("data-product", RT_CPU)
    page.goto(shared)

    # 3. The per-time product: its listing, free units; ordering asks for an account
    page.locator(f"article[data-product='{RT_TIME}']").get_by_role("link", name="Listings and quote").click()
    expect(page).to_have_url(f"{base}/shelf/{RT_TIME}/?city=SH")
    expect(page.locator("#listings tbody tr")).to_have_count(1)
    expect(page.locator("#listings tbody tr td").nth(3)).to_have_text("5 / 8")
    expect(page.locator("#reservation-form")).to_have_count(0)
    page.locator("#order-signin a").click()
    page.fill("input[name=login]", market["users"]["acme"].email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    expect(page).to_have_url(f"{base}/shelf/{RT_TIME}/?city=SH")

    # 4. A quote, exact, and nothing stored; then confirm
    start = listing.available_from + timedelta(hours=3)
    form = page.locator("#reservation-form")
    form.locator("input[name=units]").fill("2")
    form.locator("input[name=start]").fill(local_minute(start))
    form.locator("input[name=end]").fill(local_minute(start + timedelta(minutes=61)))
    form.get_by_role("button", name="Quote").click()
    quote = page.locator("#quote")
    expect(quote.locator("strong")).to_have_text("¥43.43")  # 21.36 × 2 × 61 / 60 = 43.432
    expect(form.locator("input[name=units]")).to_have_value("2")
    assert Reservation.objects.filter(buyer=market["orgs"]["acme"]).count() == 1  # the fixture's only
    holds = Hold.objects.count()
    page.screenshot(path=screenshots / "product-1-en-retail-quote.png", full_page=True)
    quote.get_by_role("button", name="Confirm reservation").click()
    expect(page.locator(".messages li")).to_have_text(
        re.compile(r"^Reservation #\d+ confirmed: 2 unit\(s\), 43\.43 on hold\.$")
    )
    expect(page).to_have_url(f"{base}/reservations/")
    reservation = Reservation.objects.filter(buyer=market["orgs"]["acme"]).latest("pk")
    assert (reservation.units, reservation.start, reservation.hold_amount) == (2, start, Decimal("43.43"))
    assert Hold.objects.count() == holds + 1

    # 5. The wholesale product's book, drawn without waiting for a script
    page.goto(f"{base}/shelf/{WH_YRD}/?instrument={market['week'].code}")
    expect(page.locator("#depth-chart path.ask")).to_have_count(1)
    expect(page.locator("#price-chart rect")).to_have_count(1)
    expect(page.locator("#book tr").first.locator("td")).to_have_text(["", "", "12.0000", "8"])
    expect(page.locator("#order-form")).to_be_visible()
    page.screenshot(path=screenshots / "product-2-en-wholesale.png", full_page=True)

    # 6. The same in Chinese: switched once, kept for the session
    page.select_option("#lang", "zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h2", has_text="订单簿")).to_be_visible()
    page.screenshot(path=screenshots / "product-2-zh-wholesale.png", full_page=True)
    page.goto(f"{base}/shelf/{RT_VOLUME}/")
    expect(page.locator("#tariff tbody tr").first.locator("td")).to_have_text(
        ["峰", "× 1.50", "¥45.0000", "08:00–11:00, 17:00–21:00"]
    )
    page.screenshot(path=screenshots / "product-1-zh-retail-tariff.png", full_page=True)
    page.goto(f"{base}/shelf/")
    expect(page.locator("h1")).to_contain_text("货架")
    expect(page.locator(f"article[data-product='{RT_CPU}'] .where")).to_contain_text("京津冀")
    expect(page.locator(f"article[data-product='{WH_YRD}'] dd.available")).to_have_text("16 个单元")
    page.screenshot(path=screenshots / "shelf-1-zh.png", full_page=True)

    # 7. On a phone: the cards stack, nothing runs off the side
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=screenshots / "shelf-1-zh-phone.png", full_page=True)
