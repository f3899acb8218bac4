"""The server-drawn charts' geometry (config/charts.py): pure, exact to 0.1 px, no float."""

from decimal import Decimal

from config.charts import _nice_max, bar_chart, line_chart


def test_the_y_axis_ends_on_a_round_value():
    assert [_nice_max(Decimal(v)) for v in ("0", "0.012740", "64", "101", "33868.80")] == [
        Decimal(1), Decimal("0.02"), Decimal(100), Decimal(200), Decimal(50000)]  # fmt: skip


def test_lines_leave_gaps_and_map_values_exactly():
    chart = line_chart(title="t", x_labels=["a", "b", "c"], series=[("s", "s1", [Decimal("0.5"), None, 1])],
                       y_max=Decimal(1))  # fmt: skip
    (s,) = chart.series
    # inner box: x 64…628, y 12…192; a at the left edge, c at the right, b left out
    assert [(p.x, p.y) for p in s.points] == [(Decimal("64.0"), Decimal("102.0")), (Decimal("628.0"), Decimal("12.0"))]
    assert s.path == "64.0,102.0 628.0,12.0"
    assert [t.label for t in chart.y_ticks] == ["0", "0.2", "0.4", "0.6", "0.8", "1"]


def test_bars_and_empty_charts():
    chart = bar_chart(title="t", x_labels=["a", "b"], values=[0, 3], y_format=lambda v: f"{v:.0f}")
    # the axis ends at 5: 3 is 3/5 of the 180 px inner height
    assert [(b.height, b.title) for b in chart.bars] == [(Decimal("0.0"), "a: 0"), (Decimal("108.0"), "b: 3")]
    assert [t.label for t in chart.y_ticks] == ["0", "1", "2", "3", "4", "5"]
    quarters = bar_chart(title="t", x_labels=["a"], values=[2], y_format=lambda v: f"{v:.1f}")
    assert [t.label for t in quarters.y_ticks] == ["0.0", "0.5", "1.0", "1.5", "2.0"]
    empty = bar_chart(title="t", x_labels=["a"], values=[0])
    assert empty.empty and empty.y_ticks == ()
