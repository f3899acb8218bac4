"""A hypothesis state machine drives random sequences of top-ups, holds, captures, releases,
payouts, reversals and retries against the real services and database, and checks after every
step that the ledger balances, that no balance is negative where the rules forbid it, and that
every balance equals a simple model of what should have happened."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule, run_state_machine_as_test

from config.errors import ExchangeError
from settlement.models import Hold, HoldStatus, Purpose
from settlement.selectors import ledger_check_run
from settlement.services import (
    account_for,
    available_funds,
    bank_reference_for,
    bank_transfer_record,
    hold_capture,
    hold_place,
    hold_release,
    payout_record,
    transaction_reverse,
)
from tests.factories import OrganisationFactory

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500.00"), places=2)


@pytest.mark.django_db
def test_random_money_movements_keep_the_ledger_true(operator):
    class Ledger(RuleBasedStateMachine):
        holds = Bundle("holds")
        topups = Bundle("topups")

        def __init__(self):
            super().__init__()
            self.buyer = OrganisationFactory(is_buyer=True, credit_limit=Decimal("100.00"))
            self.seller = OrganisationFactory(is_provider=True)
            self.ref = bank_reference_for(organisation=self.buyer).code
            self.cash = Decimal(0)  # the model: prepaid funds not on hold
            self.on_hold = Decimal(0)
            self.payable = Decimal(0)
            self.n = 0
            self.done = []  # (callable) retries of steps that succeeded

        def key(self, what):
            self.n += 1
            return f"{self.buyer.pk}:{what}:{self.n}"

        @rule(target=topups, amount=amounts)
        def top_up(self, amount):
            bank_id = self.key("bank")
            txn = bank_transfer_record(actor=operator, reference=self.ref, amount=amount, bank_transaction_id=bank_id)
            self.cash += amount
            self.done.append(lambda: bank_transfer_record(actor=operator, reference=self.ref, amount=amount,
                                                          bank_transaction_id=bank_id))  # fmt: skip
            return (txn.pk, amount)

        @rule(target=holds, amount=amounts)
        def place(self, amount):
            key = self.key("hold")
            try:
                result = hold_place(idempotency_key=key, organisation=self.buyer, amount=amount, reference="order")
            except ExchangeError as exc:
                assert exc.code == "insufficient_funds"
                assert amount > self.cash + self.buyer.credit_limit
                return None
            assert amount <= self.cash + self.buyer.credit_limit
            self.cash -= amount
            self.on_hold += amount
            self.done.append(lambda: hold_place(idempotency_key=key, organisation=self.buyer, amount=amount,
                                                reference="order"))  # fmt: skip
            return result.hold.pk

        @rule(hold=holds, share=st.integers(min_value=1, max_value=100), capture=st.booleans())
        def take_part(self, hold, share, capture):
            if hold is None:
                return
            remaining = Hold.objects.get(pk=hold).remaining
            amount = (remaining * share / 100).quantize(Decimal("0.01"))
            if amount <= 0:
                return
            key = self.key("step")
            payable = account_for(organisation=self.seller, purpose=Purpose.PROVIDER_PAYABLE)
            if capture:
                step = lambda: hold_capture(idempotency_key=key, hold_id=hold, destinations=[(payable, amount)])  # noqa: E731
                self.payable += amount
            else:
                step = lambda: hold_release(idempotency_key=key, hold_id=hold, amount=amount)  # noqa: E731
                self.cash += amount
            step()
            self.on_hold -= amount
            self.done.append(step)

        @rule(amount=amounts)
        def pay_out(self, amount):
            key = self.key("payout")
            try:
                payout_record(actor=operator, organisation=self.seller, amount=amount,
                              bank_transaction_id=key)  # fmt: skip
            except ExchangeError as exc:
                assert exc.code == "insufficient_funds" and amount > self.payable
                return
            self.payable -= amount

        @rule(topup=consumes(topups))
        def reverse(self, topup):
            txn_id, amount = topup
            try:
                transaction_reverse(idempotency_key=self.key("rev"), transaction_id=txn_id, actor=operator,
                                    reason="test")  # fmt: skip
            except ExchangeError as exc:
                assert exc.code == "insufficient_funds" and self.cash - amount < -self.buyer.credit_limit
                return
            self.cash -= amount

        @rule(index=st.integers(min_value=0))
        def retry(self, index):
            if self.done:
                self.done[index % len(self.done)]()  # a repeated request changes nothing

        @invariant()
        def balances_match_the_model_and_the_rules(self):
            funds = available_funds(organisation=self.buyer)
            assert funds.prepaid - funds.holds == self.cash >= -self.buyer.credit_limit
            assert funds.holds == self.on_hold >= 0
            payable = account_for(organisation=self.seller, purpose=Purpose.PROVIDER_PAYABLE).balance
            assert payable == self.payable >= 0
            open_holds = sum(h.remaining for h in Hold.objects.filter(organisation=self.buyer, status=HoldStatus.OPEN))
            assert open_holds == self.on_hold

        @invariant()
        def ledger_balances(self):
            report = ledger_check_run(store=False)
            assert report["ok"], report

    run_state_machine_as_test(
        Ledger,
        settings=settings(max_examples=40, stateful_step_count=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )  # fmt: skip
