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


class BearerKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <kind>_…`` for one kind of hashed key (see accounts.keys).

    A token of another kind is left to the next authentication class; a token of this kind that
    is unknown, wrong or revoked is refused. The request then acts for ``organisation_of(key)``.
    """

    kind: str
    label: str  # how the error messages name the key
    code: str  # error codes invalid_<code> and revoked_<code>
    realm: str
    related: tuple[str, ...] = ()

    def get_queryset(self):
        raise NotImplementedError

    def organisation_of(self, key):
        raise NotImplementedError

    def touch(self, key) -> None:
        """Record use (optional)."""

    def authenticate(self, request):
        token = bearer_token(request)
        if token is None or not token.startswith(f"{self.kind}_"):
            return None
        lookup = key_parse(self.kind, token)
        key = self.get_queryset().select_related(*self.related).filter(lookup=lookup).first() if lookup else None
        if key is None or not key_matches(token, key.digest):
            raise exceptions.AuthenticationFailed(f"Invalid {self.label}.", code=f"invalid_{self.code}")
        if not key.is_active:
            raise exceptions.AuthenticationFailed(f"This {self.label} was revoked.", code=f"revoked_{self.code}")
        self.touch(key)
        request._request.organisation = self.organisation_of(key)
        return key.created_by, key

    def authenticate_header(self, request):
        return f'Bearer realm="{self.realm}"'


class ApiKeyAuthentication(BearerKeyAuthentication):
    """``Authorization: Bearer sk_…``: the organisation's key; acts as the key's organisation."""

    kind, label, code, realm = API_KEY_KIND, "API key", "api_key", "api"
    related = ("organisation", "created_by")

    def get_queryset(self):
        return ApiKey.objects.all()

    def organisation_of(self, key):
        return key.organisation

    def touch(self, key) -> None:
        api_key_touch(key=key)


class BearerKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"
    bearer_format = "sk_<lookup>_<secret> (organisation API key)"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": self.bearer_format}
