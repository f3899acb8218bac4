from decimal import Decimal

import pytest
from django.template import Context, Template

from settlement.templatetags.money import grouped, yuan


@pytest.mark.parametrize(
    ("value", "places", "shown"),
    [
        (Decimal("1234567.5"), 2, "¥1,234,567.50"),
        (Decimal("0.005"), 2, "¥0.01"),  # half-up
        (Decimal("-0.005"), 2, "−¥0.01"),  # away from zero
        (Decimal("-0.004"), 2, "¥0.00"),  # no minus sign on a zero
        (Decimal("-1200"), 2, "−¥1,200.00"),
        (Decimal("12.3456"), 4, "¥12.3456"),
        ("999.5", 0, "¥1,000"),
        (7, 2, "¥7.00"),
        (Decimal("31.99995"), "4+", "¥31.99995"),  # at least 4 places, exact where finer
        (Decimal("21.3333"), "4+", "¥21.3333"),
        (Decimal("30"), "4+", "¥30.0000"),
        (Decimal("1E+3"), "4+", "¥1,000.0000"),
        (Decimal("5.79"), "=", "¥5.79"),  # as given: a band on a 0.01 tick, as a refusal writes it
        (Decimal("0.1200"), "=", "¥0.1200"),
        (Decimal("1234"), "=", "¥1,234"),
    ],
)
def test_yuan(value, places, shown):
    assert yuan(value, places) == shown


def test_yuan_leaves_what_is_not_a_number():
    assert yuan(None) == ""
    assert yuan("—") == "—"
    assert yuan(1.5) == 1.5  # a float is never formatted as money


def test_grouped():
    assert grouped(Decimal("166768")) == "166,768"
    assert grouped(Decimal("1234.5678"), 2) == "1,234.57"


def test_in_a_template_in_chinese():
    from django.utils import translation

    with translation.override("zh-hans"):
        out = Template("{{ a|yuan }} {{ p|yuan:4 }}").render(Context({"a": Decimal("10000"), "p": Decimal("3.5")}))
    assert out == "¥10,000.00 ¥3.5000"


def test_grouped_as_needed():
    assert grouped(Decimal("12.50"), "=") == "12.5"
    assert grouped(Decimal("25"), "=") == "25"
    assert grouped(Decimal("1E+3"), "=") == "1,000"
