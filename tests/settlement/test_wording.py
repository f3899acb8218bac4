"""Texts the services write into records are shown in the reader's language (settlement/wording.py)."""

import pytest
from django.utils import translation

from settlement.wording import describe

SHAPES = [
    (
        "H100-80G.YRD.MAIN.20261207.W · 8 units × 168 h at 12.3500",
        "H100-80G.YRD.MAIN.20261207.W · 8 单位 × 168 小时，单价 12.3500",
    ),
    ("Trade fee, H100-80G.YRD.MAIN.20261207.W trade #3", "交易手续费，H100-80G.YRD.MAIN.20261207.W 成交 #3"),
    ("Reservation #2 · 2 units × 60 min at 20.0000", "预订 #2 · 2 单位 × 60 分钟，单价 20.0000"),
    (
        "Metered use, valley hours (unit price × 0.50), no volume discount",
        "计量用量，谷时段（单价 × 0.50），无用量折扣",
    ),
    (
        "Metered use, peak hours (unit price × 1.50), volume discount 5 %",
        "计量用量，峰时段（单价 × 1.50），用量折扣 5 %",
    ),
    (
        "Late usage of 2026-10 (INV-2026-000002), flat hours (unit price × 1.00), no volume discount",
        "2026-10 的迟到用量（INV-2026-000002），平时段（单价 × 1.00），无用量折扣",
    ),
    ("Hold for reservation 4", "冻结：预订 4"),
    ("hold.release for reservation 4", "解冻：预订 4"),
    ("hold.capture for order 12", "冻结扣款：委托 12"),
    ("Invoice INV-2026-000002 paid from prepaid funds", "发票 INV-2026-000002 以预付资金支付"),
    ("Invoice INV-2026-000002", "发票 INV-2026-000002"),
    ("Credit note CN-2026-000001 for INV-2026-000002", "红字发票 CN-2026-000001（冲减 INV-2026-000002）"),
    ("Commission, statement ST-2026-000001", "佣金，结算单 ST-2026-000001"),
    ("Bank transfer B2 ref SL-MPD7B6KC", "银行转账 B2，附言 SL-MPD7B6KC"),
    ("Payout, bank transfer P1", "付款，银行转账 P1"),
    ("Payout to acct_123", "付款至 acct_123"),
    ("Card top-up pi_123", "银行卡充值 pi_123"),
    ("Trades: notional and fees", "成交：名义金额与手续费"),
    ("Reversal of #7: wrong amount", "冲正 #7：wrong amount"),
    ("reservation 5", "预订 5"),
    ("system", "系统"),
]


# where the English shown is not the text as stored (a journal's kind code made readable)
REWORDED = {
    "hold.release for reservation 4": "Hold released for reservation 4",
    "hold.capture for order 12": "Hold captured for order 12",
    "Bank transfer B2 ref SL-MPD7B6KC": "Bank transfer B2, reference SL-MPD7B6KC",
}


@pytest.mark.parametrize(("stored", "chinese"), SHAPES)
def test_each_shape_in_chinese_and_in_english(stored, chinese):
    with translation.override("zh-hans"):
        assert describe(stored) == chinese
    with translation.override("en"):
        assert describe(stored) == REWORDED.get(stored, stored)


@pytest.mark.parametrize("free", ["", "Goodwill credit after the outage of 3 May", "Hold for", "Invoice"])
def test_other_text_is_shown_as_written(free):
    with translation.override("zh-hans"):
        assert describe(free) == free
