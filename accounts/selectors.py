"""Reads of accounts data. Every tenant read takes the organisation it is scoped to."""

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled

from accounts.models import ApiKey, AuditEvent, Invitation, Membership, Organisation


def organisations_for_user(*, user):
    return Organisation.objects.for_user(user)


def membership_get(*, user, organisation) -> Membership | None:
    if not user.is_authenticated or organisation is None:
        return None
    return Membership.objects.filter(user=user, organisation=organisation).first()


def members_for_org(*, organisation):
    return Membership.objects.filter(organisation=organisation).select_related("user")


def invitations_for_org(*, organisation):
    return Invitation.objects.for_org(organisation).pending().select_related("invited_by")


def invitations_for_user(*, user):
    """Pending invitations addressed to the user's (verified) primary address."""
    if not user.is_authenticated:
        return Invitation.objects.none()
    return Invitation.objects.pending().for_email(user.email).select_related("organisation", "invited_by")


def api_keys_for_org(*, organisation):
    return ApiKey.objects.for_org(organisation).select_related("created_by")


def audit_events(*, organisation=None):
    qs = AuditEvent.objects.select_related("actor", "organisation")
    return qs if organisation is None else qs.for_org(organisation)


def user_is_operator(*, user) -> bool:
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(user=user, organisation__is_platform=True).exists()


def user_has_totp(*, user) -> bool:
    return is_mfa_enabled(user, [Authenticator.Type.TOTP])
