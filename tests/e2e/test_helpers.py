"""The journeys' own judges, without a browser: what counts as English left on a Chinese page,
and how an amount is recognised on a page whichever way it is written."""

from decimal import Decimal

from tests.e2e.conftest import untranslated
from tests.e2e.steps import yuan


def test_english_left_on_a_chinese_page_is_found_and_names_and_codes_are_not():
    texts = ["资金 · Acme AI", "Acme AI", "Statements", "H100-80G", "API", "#", "invoice_unpaid", "订单 #12",
             "Lingang Compute", "Card payments", "¥1,234.50", "Stripe", "hold:3", "gridco/gridco-1"]  # fmt: skip
    assert untranslated(texts, ["Lingang Compute", "Acme AI", "Stripe"]) == ["Statements", "Card payments"]
    # a name is excepted only as a whole: the words around it still count
    assert untranslated(["Funds · Acme AI"], ["Acme AI"]) == ["Funds · Acme AI"]


def test_an_amount_is_found_with_or_without_separators_and_with_either_minus():
    assert yuan(Decimal("16598.40")).search("Total ¥16,598.40 due")
    assert yuan(Decimal("16598.40")).search("Total ¥16598.40 due")
    assert not yuan(Decimal("16598.40")).search("¥16,598.41")
    assert not yuan(Decimal("598.40")).search("¥16,598.40")
    assert yuan(Decimal("-2.40")).search("¥-2.40") and yuan(Decimal("-2.40")).search("−¥2.40")
    assert not yuan(Decimal("2.40")).search("−¥2.40")
    assert not yuan(Decimal("-2.40")).search("¥2.40")
