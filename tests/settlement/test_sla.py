"""Service levels (trading standard §12): downtime from heartbeats, credits as credit notes."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement import sla

T0 = datetime(2026, 12, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def beats_every(minutes, start=T0, end=T0 + timedelta(hours=1)):
    out, t = [], start
    while t <= end:
        out.append(t)
        t += timedelta(minutes=minutes)
    return out


def test_a_pool_reporting_every_minute_is_never_down():
    hour = T0 + timedelta(hours=1)
    assert sla.down_seconds(beats_every(1), T0, hour, as_of=hour) == 0
    assert sla.down_seconds(beats_every(3), T0, hour, as_of=hour) == 0  # 3 min is not "more than 3"


def test_silence_of_more_than_three_minutes_is_down_from_the_last_heartbeat_until_the_next():
    beats = [T0, T0 + MIN, T0 + 5 * MIN, T0 + 6 * MIN]  # silent 4 minutes after the second
    later = T0 + 7 * MIN
    assert sla.down_seconds(beats, T0, T0 + 6 * MIN, as_of=later) == 4 * 60
    # cut at the interval: only the part inside counts
    assert sla.down_seconds(beats, T0 + 2 * MIN, T0 + 3 * MIN, as_of=later) == 60
    # silent since the last heartbeat: down from it once the silence passes 3 minutes
    assert sla.down_seconds([T0], T0, T0 + 10 * MIN, as_of=T0 + 10 * MIN) == 10 * 60
    assert sla.down_seconds([T0], T0, T0 + 2 * MIN, as_of=T0 + 2 * MIN) == 0  # not yet
    assert sla.down_seconds([T0], T0, T0 + 2 * MIN, as_of=T0 + 4 * MIN) == 2 * 60
    # before the first heartbeat (no earlier one known) the pool is down
    assert sla.down_seconds([T0 + 5 * MIN], T0, T0 + 6 * MIN, as_of=T0 + 6 * MIN) == 5 * 60
    assert sla.down_seconds([], T0, T0 + MIN, as_of=T0 + MIN) == 60


def test_credits_follow_the_tier_commitments():
    # MAIN commits 99.9 %: 99.9 % meets it; below earns 10 %, below 99 % 25 %, below 95 % 100 %
    assert sla.credit_rate(Fraction(999, 1000), "MAIN") == Decimal("0.00")
    assert sla.credit_rate(Fraction(9989, 10000), "MAIN") == Decimal("0.10")
    assert sla.credit_rate(Fraction(9989, 10000), "EDGE") == Decimal("0.00")
    assert sla.credit_rate(Fraction(994, 1000), "EDGE") == Decimal("0.10")
    assert sla.credit_rate(Fraction(99, 100), "REMOTE") == Decimal("0.00")
    assert sla.credit_rate(Fraction(989, 1000), "REMOTE") == Decimal("0.25")
    assert sla.credit_rate(Fraction(95, 100), "MAIN") == Decimal("0.25")
    assert sla.credit_rate(Fraction(949, 1000), "TERMINAL") == Decimal("1.00")
    assert sla.availability([(5, Fraction(3600)), (3, Fraction(0))], 36000) == 1 - Fraction(5 * 3600, 8 * 36000)


instants = st.lists(st.integers(0, 7200), max_size=40).map(
    lambda xs: [T0 + timedelta(seconds=x) for x in sorted(set(xs))]
)


@given(instants, st.integers(0, 7200), st.integers(0, 7200), st.integers(0, 7200))
def test_downtime_is_bounded_additive_and_never_grows_with_more_heartbeats(beats, a, b, extra):
    a, c = sorted((a, b))
    start, end = T0 + timedelta(seconds=a), T0 + timedelta(seconds=c)
    as_of = T0 + timedelta(seconds=7200)  # every heartbeat known by then
    down = sla.down_seconds(beats, start, end, as_of=as_of)
    assert 0 <= down <= c - a
    middle = start + (end - start) / 2
    assert down == sla.down_seconds(beats, start, middle, as_of=as_of) + sla.down_seconds(
        beats, middle, end, as_of=as_of
    )
    more = sorted(set(beats) | {T0 + timedelta(seconds=extra)})
    assert sla.down_seconds(more, start, end, as_of=as_of) <= down


@pytest.mark.django_db
def test_a_contract_below_its_commitment_earns_a_credit_note_charged_back_to_the_provider(market):
    from catalog.models import Heartbeat
    from marketplace.models import Instrument
    from marketplace.services import OrderTerms, instrument_match, order_place
    from settlement.models import Invoice, Purpose, SlaCheck
    from settlement.services import account_for
    from settlement.services.invoices import invoices_issue_due, period_bounds, period_of
    from settlement.services.sla import sla_checks_due

    code = market["instrument"].code
    for org, side in (("gridco", "sell"), ("acme", "buy")):
        terms = OrderTerms(instrument=code, side=side, type="limit", qty=8, tif="GTC", price=Decimal("12.00"))
        order_place(actor=market["users"][org], organisation=market["orgs"][org], terms=terms, idempotency_key=org)
    instrument_match(instrument_id=market["instrument"].pk)
    i = Instrument.objects.get(pk=market["instrument"].pk)
    # GridCo's pool reports every minute through the week, except a 1 h 41 min silence:
    # 6,060 s down of 604,800 s = 98.998 % available, below 99.0 % → 25 % of 16,128.00 = 4,032.00
    pool = market["pools"]["gridco"]
    gap_from, gap_to = i.window_start + timedelta(days=2), i.window_start + timedelta(days=2, minutes=101)
    t, beats = i.window_start - MIN, []
    while t <= i.window_end:
        if not gap_from < t < gap_to:
            beats.append(Heartbeat(pool=pool, ts=t, available={}, health="ok"))
        t += MIN
    Heartbeat.objects.filter(pool=pool).delete()
    Heartbeat.objects.bulk_create(beats)

    after = period_bounds(period_of(i.window_start))[1] + timedelta(hours=1)
    invoices_issue_due(now=after)
    assert sla_checks_due(now=i.window_end - MIN) == 0  # the week is not over yet
    payable = account_for(purpose=Purpose.PROVIDER_PAYABLE, organisation=market["orgs"]["gridco"]).balance
    assert sla_checks_due(now=max(after, i.window_end)) == 1
    check = SlaCheck.objects.get()
    assert (check.availability, check.credit_rate) == (Decimal("0.989980"), Decimal("0.25"))
    note = check.credit_note
    assert (note.kind, note.subtotal, note.tax) == ("credit_note", Decimal("4032.00"), Decimal("241.92"))
    assert note.corrects == Invoice.objects.get(kind="invoice")
    assert payable - account_for(purpose=Purpose.PROVIDER_PAYABLE, organisation=market["orgs"]["gridco"]).balance == (
        Decimal("4032.00")
    )
    assert sla_checks_due(now=max(after, i.window_end) + timedelta(days=1)) == 0  # once
