"""Reference data: resource classes, hub regions and time-of-use multipliers from data/*.json."""

import json
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction

from catalog.models import (
    Region,
    ResourceClass,
    TouPeriod,
)


@transaction.atomic
def reference_data_load(*, directory: Path | None = None) -> dict[str, int]:
    """Load resource classes, regions and time-of-use multipliers from the JSON files.

    Idempotent: rows are created or updated by code, none are deleted.
    """
    directory = directory or Path(settings.BASE_DIR) / "data"
    classes = json.loads((directory / "resource-classes.json").read_text(encoding="utf-8"))
    regions = json.loads((directory / "regions.json").read_text(encoding="utf-8"))
    for kind, multiplier in regions["tou_multipliers"].items():
        TouPeriod.objects.update_or_create(kind=kind, defaults={"multiplier": Decimal(multiplier)})
    for c in classes["classes"]:
        ResourceClass.objects.update_or_create(
            code=c["code"],
            defaults={
                "kind": c["kind"],
                "vendor": c["vendor"],
                "unit": c["unit"],
                "tick": Decimal(c["tick"]),
                "lot": c["lot"],
                "fp16_tflops": None if c["fp16_tflops"] is None else Decimal(str(c["fp16_tflops"])),
                "unit_power_kw": Decimal(c["unit_power_kw"]),
                "unit_capex_cny": Decimal(c["unit_capex_cny"]),
                "opex_per_hour_cny": Decimal(c["opex_per_hour_cny"]),
                "meter": c["meter"],
            },
        )
    for r in regions["regions"]:
        Region.objects.update_or_create(
            code=r["code"],
            defaults={
                "name_zh": r["name_zh"],
                "name_en": r["name_en"],
                "clusters": r["clusters"],
                "flat_price_per_kwh": Decimal(r["flat_price_per_kwh"]),
                "pue": Decimal(r["pue"]),
                "carbon_kg_per_kwh": Decimal(r["carbon_kg_per_kwh"]),
                "rtt_ms": r["rtt_ms"],
                "tou_by_local_hour": r["tou_by_local_hour"],
                "western_hub": r["western_hub"],
            },
        )
    return {
        "classes": len(classes["classes"]),
        "regions": len(regions["regions"]),
        "tou_periods": len(regions["tou_multipliers"]),
    }
