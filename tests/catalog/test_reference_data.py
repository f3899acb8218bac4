"""Reference data: loaded exactly from data/, editable, and the reference-price table."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from catalog.models import Region, ResourceClass, TouPeriod
from catalog.selectors import reference_prices
from catalog.services import reference_data_load
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db
DATA = Path(settings.BASE_DIR) / "data"


def test_every_figure_is_loaded_exactly():
    counts = reference_data_load()
    assert counts == {"classes": 8, "regions": 8, "tou_periods": 3}
    classes = json.loads((DATA / "resource-classes.json").read_text())["classes"]
    for c in classes:
        row = ResourceClass.objects.get(code=c["code"])
        assert row.tick == Decimal(c["tick"]) and row.lot == c["lot"]
        assert row.unit_capex_cny == Decimal(c["unit_capex_cny"])
        assert row.opex_per_hour_cny == Decimal(c["opex_per_hour_cny"])
        assert row.fp16_tflops == (None if c["fp16_tflops"] is None else Decimal(c["fp16_tflops"]))
    regions = json.loads((DATA / "regions.json").read_text())["regions"]
    for r in regions:
        row = Region.objects.get(code=r["code"])
        assert row.flat_price_per_kwh == Decimal(r["flat_price_per_kwh"]) and row.pue == Decimal(r["pue"])
        assert row.tou_by_local_hour == r["tou_by_local_hour"] and row.rtt_ms == r["rtt_ms"]
    assert {t.kind: t.multiplier for t in TouPeriod.objects.all()} == {
        "peak": Decimal("1.5"), "flat": Decimal("1"), "valley": Decimal("0.5"),
    }  # fmt: skip


def test_loading_again_keeps_operator_edits_out_only_where_the_file_says(reference_data):
    Region.objects.filter(code="GS").update(flat_price_per_kwh=Decimal("0.99"))
    reference_data_load()
    assert Region.objects.get(code="GS").flat_price_per_kwh == Decimal("0.33")
    assert Region.objects.count() == 8


def test_reference_price_table_covers_every_class_and_region(reference_data):
    rows = reference_prices()
    assert len(rows) == 64
    h100_yrd = next(r for r in rows if (r.resource_class, r.region) == ("H100-80G", "YRD"))
    # 250000/(5×8760×0.7) + 1.275×1.28×0.68 + 0.80 = 10.063707… ×1.15 = 11.573… → 11.57
    assert h100_yrd.reference_price == Decimal("11.57")
    vcpu = next(r for r in rows if (r.resource_class, r.region) == ("VCPU-X86", "GS"))
    assert vcpu.reference_price.as_tuple().exponent == -4 and vcpu.price_per_scu is None


def test_edited_figures_change_the_reference_price(reference_data):
    ResourceClass.objects.filter(code="H100-80G").update(
        unit_capex_cny=Decimal("250000"), unit_power_kw=Decimal("1.275"), opex_per_hour_cny=Decimal("0.80")
    )
    Region.objects.filter(code="JJJ").update(pue=Decimal("1.25"), flat_price_per_kwh=Decimal("0.65"))
    (row,) = reference_prices(resource_class="H100-80G", region="JJJ")
    assert row.reference_price == Decimal("11.49")  # the standard's worked example 3


def test_operator_sees_the_table(client, operator, reference_data):
    sign_in(client, operator)
    body = client.get("/operator/reference-prices/").content.decode()
    assert "¥11.57" in body and body.count('<th class="num"') == 8


def test_reference_prices_api(api, provider):
    r = api(provider[0]).get("/api/v1/reference-prices/", {"resource_class": "H100-80G", "region": "YRD"})
    assert r.status_code == 200
    (row,) = r.json()
    assert row["reference_price"] == "11.57" and row["tick"] == "0.01"
    r = api(provider[0]).get("/api/v1/reference-prices/", {"resource_class": "H100\x00"})  # PostgreSQL takes no NUL
    assert r.status_code == 400
    assert [e["code"] for e in r.json()["fields"]["resource_class"]] == ["null_characters_not_allowed"]
