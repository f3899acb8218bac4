"""Reads of the exchange's records. Tenant reads take the organisation they are scoped to."""

from django.db.models import Q

from marketplace.models import Contract, Order, Trade


def orders_for_org(*, organisation):
    return Order.objects.for_org(organisation).select_related("instrument")


def trades_for_org(*, organisation):
    return (
        Trade.objects.filter(Q(buyer=organisation) | Q(seller=organisation))
        .select_related("instrument")
        .order_by("-executed_at", "-number")
    )


def contracts_for_org(*, organisation):
    return Contract.objects.for_org(organisation).select_related("instrument", "trade")
