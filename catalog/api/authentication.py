from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.api.authentication import bearer_token
from accounts.keys import key_matches, key_parse
from catalog.models import PoolKey
from catalog.services import POOL_KEY_KIND


class PoolKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer pk_…``: a pool's machine key (heartbeats, usage)."""

    def authenticate(self, request):
        token = bearer_token(request)
        if token is None or not token.startswith(f"{POOL_KEY_KIND}_"):
            return None
        lookup = key_parse(POOL_KEY_KIND, token)
        key = (
            PoolKey.objects.select_related("pool__provider", "created_by").filter(lookup=lookup).first()
            if lookup
            else None
        )
        if key is None or not key_matches(token, key.digest):
            raise exceptions.AuthenticationFailed("Invalid machine key.", code="invalid_pool_key")
        if not key.is_active:
            raise exceptions.AuthenticationFailed("This machine key was revoked.", code="revoked_pool_key")
        request._request.organisation = key.pool.provider
        return key.created_by, key

    def authenticate_header(self, request):
        return 'Bearer realm="pool"'


class PoolKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = PoolKeyAuthentication
    name = "poolKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "pk_<lookup>_<secret> (pool machine key)"}
