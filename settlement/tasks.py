from celery import shared_task

from settlement.selectors import ledger_check_run
from settlement.services import card_payments_resolve, holds_expire, stripe_transfers_resolve
from settlement.services.invoices import invoices_collect, invoices_draft_all, invoices_issue_due
from settlement.services.sla import sla_checks_due
from settlement.services.statements import statements_issue_due


@shared_task(acks_late=True, reject_on_worker_lost=True)
def holds_expire_task() -> list[int]:
    """Periodic: release what is left of expired holds (idempotent per hold)."""
    return holds_expire()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def card_payments_resolve_task() -> int:
    """Periodic: ask Stripe about card payments left created, pending or unknown."""
    return card_payments_resolve()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def ledger_check_task() -> bool:
    """Periodic: run the ledger's invariant checker; the operator console shows the result."""
    return ledger_check_run()["ok"]


@shared_task(acks_late=True, reject_on_worker_lost=True)
def stripe_transfers_resolve_task() -> int:
    """Periodic: send again payouts whose outcome at Stripe is unknown (same idempotency key)."""
    return stripe_transfers_resolve()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def invoices_task() -> dict:
    """Periodic (hourly): issue the invoices of a month that has ended (on the 1st, local time,
    and after a missed run), service-level credits for deliveries that ended, then the month's
    provider statements; collect unpaid invoices from prepaid
    funds; redraft this month's."""
    issued = invoices_issue_due()
    checked = sla_checks_due()  # before the statements, so their charge-backs are on them
    statements = statements_issue_due()
    return {
        "issued": issued,
        "sla_checked": checked,
        "statements": statements,
        "collected": invoices_collect(),
        "drafted": invoices_draft_all(),
    }
