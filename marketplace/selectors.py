"""Reads of the exchange's records. Tenant reads take the organisation they are scoped to."""

from django.db.models import Prefetch, Q

from marketplace.models import Contract, ContractLeg, Order, Trade


def orders_for_org(*, organisation, status: str | None = None, instrument: str | None = None):
    orders = Order.objects.for_org(organisation).select_related("instrument")
    if status:
        orders = orders.filter(status=status)
    if instrument:
        orders = orders.filter(instrument__code=instrument)
    return orders


def trades_for_org(*, organisation):
    return (
        Trade.objects.filter(Q(buyer=organisation) | Q(seller=organisation))
        .select_related("instrument")
        .order_by("-executed_at", "-number")
    )


def contracts_for_org(*, organisation):
    """Contracts held, each with ``live_legs``: the legs still delivering units, with their pool
    and provider (one query for all of them)."""
    legs = ContractLeg.objects.filter(units__gt=0).select_related("pool__provider")
    return (
        Contract.objects.for_org(organisation)
        .select_related("instrument", "trade")
        .prefetch_related(Prefetch("legs", queryset=legs, to_attr="live_legs"))
    )
