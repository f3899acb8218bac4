"""The grid-connection descriptor (standard §1): every rule, reported field by field."""

from decimal import Decimal

import pytest

from catalog.descriptor import descriptor_errors, descriptor_schema
from tests.conftest import descriptor

REGIONS = ["JJJ", "YRD", "GBA", "CY", "NMG", "GZ", "GS", "NX"]
CLASSES = ["H100-80G", "A100-80G", "A800-80G", "910B", "L40S", "4090", "VCPU-X86", "VCPU-ARM"]
SCHEMA = descriptor_schema(region_codes=REGIONS, class_codes=CLASSES)


def codes(errors):
    return {field: [p["code"] for p in problems] for field, problems in errors.items()}


def test_valid_descriptor_has_no_errors():
    assert descriptor_errors(descriptor(), SCHEMA) == {}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"code": "AB"}, {"code": ["invalid_format"]}),
        ({"code": "Upper-Case"}, {"code": ["invalid_format"]}),
        ({"code": "a" * 41}, {"code": ["invalid_format"]}),
        ({"name": ""}, {"name": ["min_length"]}),
        ({"name": "x" * 121}, {"name": ["max_length"]}),
        ({"name": "   "}, {"name": ["blank"]}),
        ({"region": "XX"}, {"region": ["invalid_choice"]}),
        ({"tier": "CORE"}, {"tier": ["invalid_choice"]}),
        ({"city": ""}, {"city": ["min_length"]}),
        ({"location": {"latitude": Decimal("91"), "longitude": Decimal("0")}}, {"location.latitude": ["max_value"]}),
        (
            {"location": {"latitude": Decimal("0"), "longitude": Decimal("-180.5")}},
            {"location.longitude": ["min_value"]},
        ),
        ({"location": {"latitude": Decimal("0")}}, {"location.longitude": ["required"]}),
        ({"rtt_ms": Decimal("-1")}, {"rtt_ms": ["min_value"]}),
        ({"rtt_ms": "3"}, {"rtt_ms": ["invalid_type"]}),
        ({"resources": []}, {"resources": ["min_items"]}),
        ({"resources": [{"class": "H200", "units": 8}]}, {"resources.0.class": ["invalid_choice"]}),
        ({"resources": [{"class": "L40S", "units": 0}]}, {"resources.0.units": ["min_value"]}),
        ({"resources": [{"class": "L40S", "units": 2.5}]}, {"resources.0.units": ["invalid_type"]}),
        (
            {"resources": [{"class": "L40S", "units": 2}, {"class": "L40S", "units": 3}]},
            {"resources.1.class": ["duplicate_class"]},
        ),
        ({"pue": Decimal("0.99")}, {"pue": ["min_value"]}),
        ({"pue": Decimal("3.01")}, {"pue": ["max_value"]}),
        ({"pue": Decimal("1.255")}, {"pue": ["max_decimal_places"]}),
        ({"green_power_share": Decimal("1.1")}, {"green_power_share": ["max_value"]}),
        ({"green_power_share": Decimal("-0.1")}, {"green_power_share": ["min_value"]}),
        ({"security_level": 0}, {"security_level": ["min_value"]}),
        ({"security_level": 5}, {"security_level": ["max_value"]}),
        ({"data_residency": "yes"}, {"data_residency": ["invalid_type"]}),
        ({"colour": "blue"}, {"colour": ["unknown_field"]}),
    ],
)
def test_each_rule_is_reported_on_its_field(overrides, expected):
    assert codes(descriptor_errors(descriptor(**overrides), SCHEMA)) == expected


def test_bounds_are_inclusive():
    d = descriptor(pue=Decimal("3.00"), green_power_share=Decimal("1"), security_level=4, rtt_ms=Decimal("0"))
    assert descriptor_errors(d, SCHEMA) == {}
    assert descriptor_errors(descriptor(pue=Decimal("1.00"), green_power_share=Decimal("0")), SCHEMA) == {}


def test_every_missing_field_is_listed():
    errors = descriptor_errors({}, SCHEMA)
    assert set(errors) == set(SCHEMA["required"])
    assert all(p[0]["code"] == "required" for p in errors.values())


def test_several_problems_are_reported_together():
    errors = descriptor_errors(descriptor(code="X", pue=Decimal("9"), tier="nope"), SCHEMA)
    assert set(errors) == {"code", "pue", "tier"}


def test_not_an_object():
    assert codes(descriptor_errors([1, 2], SCHEMA)) == {"non_field_errors": ["invalid_type"]}


def test_non_finite_numbers_are_refused():
    assert codes(descriptor_errors(descriptor(pue=Decimal("NaN")), SCHEMA)) == {"pue": ["invalid_number"]}
