"""Reads of accounts data. Every tenant read takes the organisation it is scoped to."""

import time
from collections.abc import Callable

from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.db import connection

from accounts.models import ApiKey, AuditEvent, Invitation, Membership, Organisation, User


def organisations_for_user(*, user):
    return Organisation.objects.for_user(user)


def membership_get(*, user, organisation) -> Membership | None:
    if not user.is_authenticated or organisation is None:
        return None
    return Membership.objects.filter(user=user, organisation=organisation).first()


ROLES_READ = "_membership_roles"  # on a User instance: {organisation id: role or None}, read with it


# API keys as authentication last read them, in this process: lookup -> (monotonic time, row)
_api_keys_read: dict[str, tuple[float, tuple]] = {}
API_KEYS_KEPT = 10_000  # more and the oldest reads are dropped with the rest


def api_key_row(*, lookup: str, read: Callable[[str], tuple | None]) -> tuple | None:
    """``read(lookup)``: an API key's row (with its organisation, creator and the creator's role
    there), kept in this process for ``API_KEY_CACHE_SECONDS``. Every API request asks this, and
    a partner sends many a second with one key; the price: a key revoked, or a role lowered, in
    another process keeps working here for up to that long (this process's own changes forget
    at once). Nothing kept is money: the credit limit is read with the funds' lock."""
    seconds = settings.API_KEY_CACHE_SECONDS
    now = time.monotonic()
    kept = _api_keys_read.get(lookup)
    if kept is not None and now - kept[0] < seconds:
        return kept[1]
    row = read(lookup)
    if row is not None and seconds > 0:
        if len(_api_keys_read) >= API_KEYS_KEPT:
            _api_keys_read.clear()
        _api_keys_read[lookup] = (now, row)
    return row


def api_keys_forget(lookup: str | None = None) -> None:
    """Read the key (every key, without ``lookup``) afresh at its next use in this process."""
    if lookup is None:
        _api_keys_read.clear()
    else:
        _api_keys_read.pop(lookup, None)


def membership_role(*, user_id: int, organisation_id: int, user: User | None = None) -> str | None:
    """The user's role in the organisation, or None; one plain query (order entry asks it on
    every request), none when ``user`` is the instance and its role there was read with it (API
    key authentication reads the key's creator's role in the key's organisation with the key)."""
    known = getattr(user, ROLES_READ, None)
    if known is not None and organisation_id in known:
        return known[organisation_id]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT role FROM {Membership._meta.db_table} WHERE user_id = %s AND organisation_id = %s",  # noqa: S608
            [user_id, organisation_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def members_for_org(*, organisation):
    return Membership.objects.filter(organisation=organisation).select_related("user")


def invitations_for_org(*, organisation):
    return Invitation.objects.for_org(organisation).pending().select_related("invited_by")


def invitations_for_user(*, user):
    """Pending invitations addressed to the user's address, once that address is verified."""
    if (
        not user.is_authenticated
        or not EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()
    ):
        return Invitation.objects.none()
    return Invitation.objects.pending().for_email(user.email).select_related("organisation", "invited_by")


def api_keys_for_org(*, organisation):
    return ApiKey.objects.for_org(organisation).select_related("created_by")


def audit_events(*, organisation=None):
    qs = AuditEvent.objects.select_related("actor", "organisation")
    return qs if organisation is None else qs.for_org(organisation)


def user_is_operator(*, user, acting: bool = False) -> bool:
    """A member of the platform organisation; ``acting``: one who may change things (not a viewer)."""
    if user is None or not user.is_authenticated:
        return False
    memberships = Membership.objects.filter(user=user, organisation__is_platform=True)
    if acting:
        memberships = memberships.exclude(role=Membership.Role.VIEWER)
    return memberships.exists()


def session_used_mfa(*, request) -> bool:
    """Whether this session's sign-in passed a second factor (allauth records the methods used)."""
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" for record in records)


def user_has_totp(*, user) -> bool:
    return is_mfa_enabled(user, [Authenticator.Type.TOTP])
