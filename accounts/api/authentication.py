from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.keys import key_matches, key_parse
from accounts.models import ApiKey
from accounts.services import API_KEY_KIND, api_key_touch


def bearer_token(request) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer sk_…``: the organisation's key; acts as the key's organisation."""

    def authenticate(self, request):
        token = bearer_token(request)
        if token is None or not token.startswith(f"{API_KEY_KIND}_"):
            return None
        lookup = key_parse(API_KEY_KIND, token)
        key = (
            ApiKey.objects.select_related("organisation", "created_by").filter(lookup=lookup).first()
            if lookup
            else None
        )
        if key is None or not key_matches(token, key.digest):
            raise exceptions.AuthenticationFailed("Invalid API key.", code="invalid_api_key")
        if not key.is_active:
            raise exceptions.AuthenticationFailed("This API key was revoked.", code="revoked_api_key")
        api_key_touch(key=key)
        request._request.organisation = key.organisation
        return key.created_by, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "sk_<lookup>_<secret> (organisation API key)"}
