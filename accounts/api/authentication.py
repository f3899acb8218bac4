import functools

from django.db import connections, router
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.keys import key_matches, key_parse
from accounts.models import ApiKey, Membership, Organisation, User
from accounts.selectors import ROLES_READ, api_key_row
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

    def find(self, lookup: str):
        return self.get_queryset().select_related(*self.related).filter(lookup=lookup).first()

    def authenticate(self, request):
        token = bearer_token(request)
        if token is None or not token.startswith(f"{self.kind}_"):
            return None
        lookup = key_parse(self.kind, token)
        key = self.find(lookup) if lookup else None
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

    def find(self, lookup: str):
        """The key with its organisation and creator, and the creator's role there (order entry
        asks it next), in one plain query on PostgreSQL (every API request asks this; the ORM's
        compiling of the query cost more than running it), kept for a few seconds in this
        process (``api_key_row``). The organisation comes without its credit limit: reading
        that attribute reads it from the database (and funds_lock reads it with its lock), so
        a lowered limit never waits for the key to be read again. Fresh instances each time."""
        connection = connections[router.db_for_read(ApiKey)]
        if connection.vendor != "postgresql":
            return super().find(lookup)
        row = api_key_row(lookup=lookup, read=self._read)
        if row is None:
            return None
        loaded, at = [], 0
        for model, _, fields in _key_parts():
            values = [
                f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
                for f, v in zip(fields, row[at : at + len(fields)], strict=True)
            ]
            loaded.append(model.from_db(connection.alias, [f.attname for f in fields], values))
            at += len(fields)
        key, organisation, user = loaded
        key._state.fields_cache.update(organisation=organisation, created_by=user)
        setattr(user, ROLES_READ, {organisation.pk: row[-1]})
        return key

    @staticmethod
    def _read(lookup: str) -> tuple | None:
        connection = connections[router.db_for_read(ApiKey)]
        columns = ", ".join(f'{alias}."{f.column}"' for _, alias, fields in _key_parts() for f in fields)
        role = (
            f"(SELECT m.role FROM {Membership._meta.db_table} m "  # noqa: S608
            "WHERE m.user_id = k.created_by_id AND m.organisation_id = k.organisation_id)"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns}, {role} FROM {ApiKey._meta.db_table} k "  # noqa: S608
                f"JOIN {Organisation._meta.db_table} o ON o.id = k.organisation_id "
                f"JOIN {User._meta.db_table} u ON u.id = k.created_by_id WHERE k.lookup = %s",
                [lookup],
            )
            return cursor.fetchone()


@functools.cache
def _key_parts():
    """(model, alias, fields read) of the key's query; the organisation's without credit_limit."""
    return [
        (ApiKey, "k", ApiKey._meta.concrete_fields),
        (Organisation, "o", [f for f in Organisation._meta.concrete_fields if f.attname != "credit_limit"]),
        (User, "u", User._meta.concrete_fields),
    ]


class BearerKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"
    bearer_format = "sk_<lookup>_<secret> (organisation API key)"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": self.bearer_format}
