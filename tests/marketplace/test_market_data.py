"""Market data on a small scenario placed through the services: depth, tape, OHLCV bars cut in
local time, the SCU price index, and the REST endpoints with their filters and 400s."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import api_key_create
from marketplace import market
from marketplace.engine.instruments import LOCAL
from marketplace.models import Trade
from marketplace.services import OrderTerms, instrument_ensure, instrument_match, order_cancel, order_place
from marketplace.services.instruments import instrument_code
from tests.marketplace.conftest import connected_pool, next_week_code

pytestmark = pytest.mark.django_db

YESTERDAY = (timezone.now().astimezone(LOCAL) - timedelta(days=1)).date()


def local(day, hour, minute):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL)


T1 = local(YESTERDAY, 22, 10)  # 14:10 UTC
T2 = local(YESTERDAY, 23, 40)  # 15:40 UTC
T3 = local(YESTERDAY + timedelta(days=1), 0, 20)  # 16:20 UTC the same UTC day, the next local day


@pytest.fixture
def clock(monkeypatch):
    """The clock is the one true boundary: orders are stamped with the time set here."""
    state = {"at": None}
    real = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: state["at"] or real())
    return state


@pytest.fixture
def scenario(market, clock, operator):
    """Five H100 trades over two local days (three hourly bars), a CPU trade, and a book."""
    code = market["instrument"].code
    n = iter(range(1, 100))

    def place(org, side, qty, price, at, tif="GTC", instrument=code):
        clock["at"] = at
        terms = OrderTerms(instrument=instrument, side=side, type="limit", qty=qty, tif=tif, price=Decimal(price))
        return order_place(
            actor=market["users"][org], organisation=market["orgs"][org], terms=terms, idempotency_key=f"s{next(n)}"
        )

    place("gridco", "sell", 16, "12.00", T1)
    place("westdc", "sell", 16, "12.50", T1)
    place("acme", "buy", 8, "12.10", T1)  # trade 1: 8 @ 12.00 at T1
    place("bolt", "buy", 16, "12.60", T2)  # trades 2 and 3: 8 @ 12.00, 8 @ 12.50 at T2
    place("acme", "buy", 8, "12.50", T3)  # trade 4: 8 @ 12.50 at T3
    place("gridco", "sell", 24, "12.70", T3)
    place("westdc", "sell", 8, "12.80", T3)
    place("acme", "buy", 8, "12.70", T3, tif="IOC")  # trade 5: 8 @ 12.70, 16 left at 12.70
    place("acme", "buy", 8, "11.90", T3)
    place("bolt", "buy", 16, "11.90", T3)
    cancelled = place("bolt", "buy", 8, "11.80", T3)
    place("bolt", "buy", 8, "11.85", T3)
    order_cancel(actor=market["users"]["bolt"], organisation=market["orgs"]["bolt"], order_id=cancelled.pk)
    instrument_match(instrument_id=market["instrument"].pk)

    # a CPU trade the same day in the same region: it has no SCU value and stays out of the index
    gridco_user, gridco = market["users"]["gridco"], market["orgs"]["gridco"]
    connected_pool(user=gridco_user, organisation=gridco, operator=operator, code="gridco-cpu", cls="VCPU-X86")
    cpu = instrument_ensure(code=next_week_code(cls="VCPU-X86"))
    place("gridco", "sell", 4, str(cpu.reference_price), T2, instrument=cpu.code)
    place("acme", "buy", 4, str(cpu.reference_price), T2, instrument=cpu.code)
    instrument_match(instrument_id=cpu.pk)
    clock["at"] = None
    return {**market, "cpu": cpu}


def test_depth_aggregates_remaining_units_of_resting_orders_best_first(scenario):
    depth = market.instrument_depth(instrument=scenario["instrument"])
    assert depth.bids == [
        market.Level(price=Decimal("11.90"), qty=24, orders=2, cumulative=24),
        market.Level(price=Decimal("11.85"), qty=8, orders=1, cumulative=32),
    ]
    # 12.70: 24 offered, 8 filled; the cancelled bid at 11.80 is gone
    assert depth.asks == [
        market.Level(price=Decimal("12.70"), qty=16, orders=1, cumulative=16),
        market.Level(price=Decimal("12.80"), qty=8, orders=1, cumulative=24),
    ]
    assert market.instrument_depth(instrument=scenario["instrument"], levels=1).asks == depth.asks[:1]


def test_tape_and_quotes(scenario):
    tape = market.trades_last(instrument=scenario["instrument"])
    assert [(t["number"], t["price"], t["qty"]) for t in tape] == [
        (5, Decimal("12.70"), 8),
        (4, Decimal("12.50"), 8),
        (3, Decimal("12.50"), 8),
        (2, Decimal("12.00"), 8),
        (1, Decimal("12.00"), 8),
    ]
    assert tape[0]["executed_at"] == T3 and tape[-1]["executed_at"] == T1
    quoted = market.instrument_quoted(code=scenario["instrument"].code)
    assert (quoted.best_bid, quoted.best_ask, quoted.last) == (Decimal("11.90"), Decimal("12.70"), Decimal("12.70"))


def test_hourly_bars_are_cut_in_local_time(scenario):
    bars = market.instrument_ohlcv(instrument=scenario["instrument"], interval="1h")
    hours = 168
    assert bars == [
        market.Bar(start=local(YESTERDAY, 22, 0), open=Decimal("12.00"), high=Decimal("12.00"), low=Decimal("12.00"),
                   close=Decimal("12.00"), volume=8, notional=Decimal("96.00") * hours, trades=1),
        market.Bar(start=local(YESTERDAY, 23, 0), open=Decimal("12.00"), high=Decimal("12.50"), low=Decimal("12.00"),
                   close=Decimal("12.50"), volume=16, notional=Decimal("196.00") * hours, trades=2),
        market.Bar(start=T3.replace(minute=0), open=Decimal("12.50"), high=Decimal("12.70"), low=Decimal("12.50"),
                   close=Decimal("12.70"), volume=16, notional=Decimal("201.60") * hours, trades=2),
    ]  # fmt: skip
    assert bars[0].notional == Decimal("16128.00") and bars[2].notional == Decimal("33868.80")


def test_daily_bars_start_at_local_midnight_not_utc(scenario):
    # T1..T3 are all on one UTC day; in Asia/Shanghai T3 is the next day
    bars = market.instrument_ohlcv(instrument=scenario["instrument"], interval="1d")
    assert [(b.start, b.open, b.high, b.low, b.close, b.volume, b.notional) for b in bars] == [
        (local(YESTERDAY, 0, 0), Decimal("12.00"), Decimal("12.50"), Decimal("12.00"), Decimal("12.50"), 24,
         Decimal("49056.00")),
        (local(T3.date(), 0, 0), Decimal("12.50"), Decimal("12.70"), Decimal("12.50"), Decimal("12.70"), 16,
         Decimal("33868.80")),
    ]  # fmt: skip
    assert market.instrument_ohlcv(instrument=scenario["instrument"], interval="1d", since=T3) == bars[1:]
    assert market.instrument_ohlcv(instrument=scenario["instrument"], interval="1d", until=T3) == bars[:1]


def test_scu_index_per_region_and_local_day_leaves_cpu_out(scenario):
    (yrd,) = market.scu_index(day=YESTERDAY, region="YRD")
    # 49,056.00 / (24 units × 168 h × 989 TFLOPS = 3,987,648 SCU) = 0.01230225… → 0.012302
    assert (yrd.trades, yrd.notional, yrd.scu, yrd.index) == (
        3,
        Decimal("49056.00"),
        Decimal("3987648"),
        Decimal("0.012302"),
    )
    (next_day,) = market.scu_index(day=T3.date(), region="YRD")
    # 33,868.80 / (16 × 168 × 989 = 2,658,432) = 0.01274015… → 0.012740
    assert (next_day.trades, next_day.notional, next_day.scu, next_day.index) == (
        2,
        Decimal("33868.80"),
        Decimal("2658432"),
        Decimal("0.012740"),
    )
    assert Trade.objects.filter(instrument=scenario["cpu"], executed_at=T2).count() == 1  # left out
    every = {row.region: row for row in market.scu_index(day=YESTERDAY)}
    assert every["YRD"] == yrd
    assert all(row.index is None and row.trades == 0 for code, row in every.items() if code != "YRD")
    assert market.scu_index(day=YESTERDAY - timedelta(days=1), region="YRD")[0].index is None


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture
def reader(scenario, api):
    return api(scenario["users"]["acme"])


def test_instrument_list_with_quotes_and_filters(scenario, reader):
    h100 = scenario["instrument"].code
    tomorrow = (timezone.now().astimezone(LOCAL) + timedelta(days=1)).date()
    today = timezone.now().astimezone(LOCAL).date()
    daily = instrument_ensure(code=instrument_code(resource_class="H100-80G", region="YRD", tier="MAIN",
                                                   day=tomorrow, kind="D")).code  # fmt: skip
    started = instrument_ensure(code=instrument_code(resource_class="H100-80G", region="YRD", tier="MAIN",
                                                     day=today, kind="D")).code  # fmt: skip

    def codes(**params):
        r = reader.get("/api/v1/instruments/", params)
        assert r.status_code == 200, r.json()
        return [row["code"] for row in r.json()["results"]]

    assert sorted(codes()) == sorted([h100, scenario["cpu"].code, daily, started])
    assert sorted(codes(resource_class="H100-80G")) == sorted([h100, daily, started])
    assert codes(resource_class="H100-80G", kind="W") == [h100]
    assert sorted(codes(resource_class="H100-80G", open="true")) == sorted([h100, daily])
    assert codes(open="false") == [started]
    assert codes(region="NMG") == [] and codes(tier="EDGE") == []
    row = next(r for r in reader.get("/api/v1/instruments/", {"kind": "W"}).json()["results"] if r["code"] == h100)
    assert (row["best_bid"], row["best_ask"], row["last"], row["trading"]) == ("11.9000", "12.7000", "12.7000", True)


def test_instrument_detail_depth_trades_and_ohlcv(scenario, reader):
    i = scenario["instrument"]
    body = reader.get(f"/api/v1/instruments/{i.code}/").json()
    assert body["reference_price"] == f"{i.reference_price:.4f}"
    band = market.instrument_band(i)
    assert body["band"] == {"low": f"{band.low:.4f}", "high": f"{band.high:.4f}"}
    assert (body["best_bid"], body["best_ask"], body["last"]) == ("11.9000", "12.7000", "12.7000")

    depth = reader.get(f"/api/v1/instruments/{i.code}/depth/").json()
    assert depth["bids"] == [
        {"price": "11.9000", "qty": 24, "orders": 2, "cumulative": 24},
        {"price": "11.8500", "qty": 8, "orders": 1, "cumulative": 32},
    ]
    assert depth["asks"][0] == {"price": "12.7000", "qty": 16, "orders": 1, "cumulative": 16}
    assert len(reader.get(f"/api/v1/instruments/{i.code}/depth/", {"levels": 1}).json()["asks"]) == 1

    tape = reader.get(f"/api/v1/instruments/{i.code}/trades/", {"limit": 2}).json()
    assert tape == [
        {"number": 5, "price": "12.7000", "qty": 8, "executed_at": T3.isoformat()},
        {"number": 4, "price": "12.5000", "qty": 8, "executed_at": T3.isoformat()},
    ]
    older = reader.get(f"/api/v1/instruments/{i.code}/trades/", {"before": 4}).json()
    assert [t["number"] for t in older] == [3, 2, 1]
    text = reader.get(f"/api/v1/instruments/{i.code}/trades/").content.decode()
    assert "acme" not in text.lower() and "gridco" not in text.lower() and "order" not in text

    daily = reader.get(f"/api/v1/instruments/{i.code}/ohlcv/", {"interval": "1d"}).json()
    assert daily == [
        {"start": local(YESTERDAY, 0, 0).isoformat(), "open": "12.0000", "high": "12.5000", "low": "12.0000",
         "close": "12.5000", "volume": 24, "notional": "49056.000000", "trades": 3},
        {"start": local(T3.date(), 0, 0).isoformat(), "open": "12.5000", "high": "12.7000", "low": "12.5000",
         "close": "12.7000", "volume": 16, "notional": "33868.800000", "trades": 2},
    ]  # fmt: skip
    hourly = reader.get(f"/api/v1/instruments/{i.code}/ohlcv/").json()
    assert [b["start"] for b in hourly] == [
        local(YESTERDAY, 22, 0).isoformat(),
        local(YESTERDAY, 23, 0).isoformat(),
        local(T3.date(), 0, 0).isoformat(),
    ]


def test_scu_index_endpoint(scenario, reader):
    r = reader.get("/api/v1/market/scu-index/", {"region": "YRD", "day": YESTERDAY.isoformat()})
    assert r.json() == [{"region": "YRD", "day": YESTERDAY.isoformat(), "trades": 3, "notional": "49056.000000",
                         "scu": "3987648.00", "index": "0.012302"}]  # fmt: skip
    rows = reader.get("/api/v1/market/scu-index/", {"day": T3.date().isoformat()}).json()
    assert {row["region"]: row["index"] for row in rows if row["index"]} == {"YRD": "0.012740"}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/instruments/", {"resource_class": "NOPE"}, "resource_class"),
        ("/api/v1/instruments/", {"region": "MARS"}, "region"),
        ("/api/v1/instruments/", {"tier": "SPACE"}, "tier"),
        ("/api/v1/instruments/", {"kind": "Y"}, "kind"),
        ("/api/v1/instruments/", {"open": "maybe"}, "open"),
        ("{code}depth/", {"levels": "0"}, "levels"),
        ("{code}depth/", {"levels": "many"}, "levels"),
        ("{code}trades/", {"limit": "501"}, "limit"),
        ("{code}trades/", {"before": "-1"}, "before"),
        ("{code}ohlcv/", {"interval": "5m"}, "interval"),
        ("{code}ohlcv/", {"since": "yesterday"}, "since"),
        ("{code}ohlcv/", {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ("/api/v1/market/scu-index/", {"day": "2026-13-40"}, "day"),
        ("/api/v1/market/scu-index/", {"region": "MARS"}, "region"),
    ],
)
def test_every_bad_query_parameter_is_a_400_with_the_error_body(market, api, path, params, field):
    path = path.replace("{code}", f"/api/v1/instruments/{market['instrument'].code}/")
    r = api(market["users"]["acme"]).get(path, params)
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["code"] == "invalid" and list(body["fields"]) == [field], body
    assert set(body) == {"code", "detail", "fields"}


def test_unknown_instrument_is_404(market, api):
    r = api(market["users"]["acme"]).get("/api/v1/instruments/H100-80G.YRD.MAIN.20000103.W/depth/")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_market_data_needs_catalog_read_on_an_api_key(market, api):
    org = market["orgs"]["acme"]
    user = market["users"]["acme"]
    _, with_scope = api_key_create(actor=user, organisation=org, name="feed", scopes=["catalog:read"])
    _, without = api_key_create(actor=user, organisation=org, name="orders", scopes=["orders:read"])
    code = market["instrument"].code
    for path in ("/api/v1/instruments/", f"/api/v1/instruments/{code}/depth/", "/api/v1/market/scu-index/"):
        assert api(token=with_scope).get(path).status_code == 200
        r = api(token=without).get(path)
        assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert api().get("/api/v1/instruments/").status_code == 401
