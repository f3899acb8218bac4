"""Tariffs and meters from the reference data files (data/regions.json,
data/resource-classes.json), for rating without a database. The database keeps the same figures,
which the operator may have edited (``settlement.selectors.rating_reference`` reads either)."""

from collections.abc import Mapping
from typing import Any

from settlement.rating.inputs import Tariff, tariff_make


def reference_tariffs(regions: Mapping[str, Any]) -> dict[str, Tariff]:
    """Each region's time-of-use tariff, from the parsed regions.json."""
    multipliers = regions["tou_multipliers"]
    return {
        region["code"]: tariff_make(tou_by_local_hour=region["tou_by_local_hour"], multipliers=multipliers)
        for region in regions["regions"]
    }


def reference_meters(classes: Mapping[str, Any]) -> dict[str, str]:
    """Each resource class's per-volume meter, from the parsed resource-classes.json."""
    return {c["code"]: c["meter"] for c in classes["classes"]}
