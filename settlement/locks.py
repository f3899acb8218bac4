"""Row locks for money: accounts locked in primary-key order, evaluated at once, held briefly."""

from settlement.models import Account, Hold


def accounts_lock(account_ids) -> dict[int, Account]:
    ids = sorted(set(account_ids))
    return {
        a.pk: a for a in Account.objects.select_for_update(of=("self",), no_key=True).filter(pk__in=ids).order_by("pk")
    }


def hold_lock(*, hold_id: int, organisation=None) -> Hold | None:
    qs = Hold.objects.select_for_update(of=("self",), no_key=True)
    if organisation is not None:
        qs = qs.for_org(organisation)
    return qs.filter(pk=hold_id).first()
