"""Holds (two-phase): place, capture in part or whole, release, expire; funds never overdrawn."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from config.errors import Conflict, ExchangeError
from settlement.models import Hold, HoldStatus, Purpose
from settlement.selectors import ledger_check_run
from settlement.services import account_for, available_funds, hold_capture, hold_place, hold_release, holds_expire
from tests.concurrency import race

D = Decimal


@pytest.mark.django_db
def test_place_capture_release(buyer, seller, fund):
    _, org = buyer
    fund(org, "1000.00")
    placed = hold_place(idempotency_key="h1", organisation=org, amount=D("600.00"), reference="order:1")
    funds = available_funds(organisation=org)
    assert (funds.prepaid, funds.holds, funds.available) == (D("1000.00"), D("600.00"), D("400.00"))
    payable = account_for(organisation=seller[1], purpose=Purpose.PROVIDER_PAYABLE)
    fees = account_for(purpose=Purpose.FEE_REVENUE)
    hold_capture(idempotency_key="c1", hold_id=placed.hold.pk, destinations=[(payable, D("400.00")), (fees, D("1.20"))])
    hold_release(idempotency_key="r1", hold_id=placed.hold.pk)
    hold = Hold.objects.get()
    assert (hold.captured, hold.released, hold.status) == (D("401.20"), D("198.80"), HoldStatus.CLOSED)
    funds = available_funds(organisation=org)
    assert (funds.prepaid, funds.holds, funds.available) == (D("598.80"), D("0.00"), D("598.80"))
    payable.refresh_from_db()
    assert payable.balance == D("400.00")
    assert ledger_check_run()["ok"]


@pytest.mark.django_db
def test_a_hold_beyond_available_funds_is_refused(buyer, fund):
    _, org = buyer
    fund(org, "100.00")
    with pytest.raises(ExchangeError) as err:
        hold_place(idempotency_key="h", organisation=org, amount=D("100.01"), reference="order:1")
    assert err.value.code == "insufficient_funds"
    assert Hold.objects.count() == 0
    org.credit_limit = D("50.00")
    org.save()
    hold_place(idempotency_key="h2", organisation=org, amount=D("150.00"), reference="order:1")
    assert available_funds(organisation=org).available == D("0.00")
    with pytest.raises(ExchangeError):
        hold_place(idempotency_key="h3", organisation=org, amount=D("0.01"), reference="order:2")


@pytest.mark.django_db
def test_steps_are_idempotent_and_bounded(buyer, fund):
    _, org = buyer
    fund(org, "100.00")
    first = hold_place(idempotency_key="h", organisation=org, amount=D("60.00"), reference="order:1")
    assert hold_place(idempotency_key="h", organisation=org, amount=D("60.00"), reference="order:1").hold == first.hold
    with pytest.raises(Conflict):
        hold_place(idempotency_key="h", organisation=org, amount=D("61.00"), reference="order:1")
    hold_release(idempotency_key="r", hold_id=first.hold.pk, amount=D("10.00"))
    hold_release(idempotency_key="r", hold_id=first.hold.pk, amount=D("10.00"))  # a retry
    with pytest.raises(Conflict):
        hold_release(idempotency_key="r", hold_id=first.hold.pk, amount=D("11.00"))
    assert Hold.objects.get().released == D("10.00")
    with pytest.raises(ExchangeError) as err:
        hold_release(idempotency_key="r2", hold_id=first.hold.pk, amount=D("50.01"))
    assert err.value.code == "hold_exceeded"
    assert available_funds(organisation=org).available == D("50.00")


@pytest.mark.django_db
def test_expired_holds_are_released(buyer, fund):
    _, org = buyer
    fund(org, "100.00")
    soon = timezone.now() + timedelta(minutes=5)
    hold = hold_place(idempotency_key="h", organisation=org, amount=D("40.00"), reference="order:1", expires_at=soon)
    assert holds_expire(now=soon - timedelta(seconds=1)) == []
    assert holds_expire(now=soon) == [hold.hold.pk]
    assert holds_expire(now=soon) == []
    assert available_funds(organisation=org).available == D("100.00")
    assert Hold.objects.get().status == HoldStatus.CLOSED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_holds_never_overdraw(buyer, fund):
    """Balance 1,000.00, twenty holds of 70.00 at once: at most floor(1000/70) = 14 succeed."""
    _, org = buyer
    fund(org, "1000.00")
    outcomes = race(
        20,
        lambda i: hold_place(idempotency_key=f"c{i}", organisation=org, amount=D("70.00"), reference=f"order:{i}"),
    )
    assert outcomes.count("ok") == 14 and outcomes.count("insufficient_funds") == 6
    funds = available_funds(organisation=org)
    assert funds.available == D("20.00") and funds.available >= 0  # overdraft 0
    assert ledger_check_run()["ok"]


@pytest.mark.django_db
def test_a_top_up_already_spent_cannot_be_reversed(buyer, fund, operator):
    from settlement.services import transaction_reverse

    _, org = buyer
    topup = fund(org, "100.00")
    hold_place(idempotency_key="h", organisation=org, amount=D("80.00"), reference="order:1")
    with pytest.raises(ExchangeError) as err:
        transaction_reverse(idempotency_key="r", transaction_id=topup.pk, actor=operator, reason="bounced")
    assert err.value.code == "insufficient_funds"
    assert available_funds(organisation=org).available == D("20.00")
