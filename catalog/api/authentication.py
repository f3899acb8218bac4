from accounts.api.authentication import BearerKeyAuthentication, BearerKeyScheme
from catalog.models import PoolKey
from catalog.services import POOL_KEY_KIND


class PoolKeyAuthentication(BearerKeyAuthentication):
    """``Authorization: Bearer pk_…``: a pool's machine key (heartbeats, usage)."""

    kind, label, code, realm = POOL_KEY_KIND, "machine key", "pool_key", "pool"
    related = ("pool__provider", "created_by")

    def get_queryset(self):
        return PoolKey.objects.all()

    def organisation_of(self, key):
        return key.pool.provider


class PoolKeyScheme(BearerKeyScheme):
    target_class = PoolKeyAuthentication
    name = "poolKey"
    bearer_format = "pk_<lookup>_<secret> (pool machine key)"
