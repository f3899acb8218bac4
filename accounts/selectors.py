"""Reads of accounts data. Every tenant read takes the organisation it is scoped to."""

from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.db import connection

from accounts.models import ApiKey, AuditEvent, Invitation, Membership, Organisation, User


def organisations_for_user(*, user):
    return Organisation.objects.for_user(user)


def membership_get(*, user, organisation) -> Membership | None:
    if not user.is_authenticated or organisation is None:
        return None
    return Membership.objects.filter(user=user, organisation=organisation).first()


ROLES_READ = "_membership_roles"  # on a User instance: {organisation id: role or None}, read with it


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
