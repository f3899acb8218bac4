"""Row locks for catalog writes: taken in primary-key order, evaluated at once, held briefly."""

from catalog.models import Pool


def pool_lock(*, pool_id: int, provider=None) -> Pool | None:
    qs = Pool.objects.select_for_update(of=("self",), no_key=True).select_related("provider", "region")
    if provider is not None:
        qs = qs.for_org(provider)
    return qs.filter(pk=pool_id).first()


def pools_lock(*, pool_ids) -> list[int]:
    """Lock several pools in primary-key order; returns the ids locked."""
    ids = sorted(set(pool_ids))
    return list(
        Pool.objects.select_for_update(of=("self",), no_key=True)
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
