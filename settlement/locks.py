"""Row locks for money: accounts locked in primary-key order, evaluated at once, held briefly."""

from config.rows import placeholders, select_models
from settlement.models import Account, Hold


def accounts_lock(account_ids) -> dict[int, Account]:
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    return {a.pk: a for a in select_models(Account, f"id IN ({placeholders(ids)})", ids, order_by="id", lock=True)}


def hold_lock(*, hold_id: int, organisation=None) -> Hold | None:
    qs = Hold.objects.select_for_update(of=("self",), no_key=True)
    if organisation is not None:
        qs = qs.for_org(organisation)
    return qs.filter(pk=hold_id).first()
